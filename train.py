"""Train a decision model with any registered backbone on one offline dataset.

    python train.py backbone:min-gru --dataset replica/hopper/mini-v0 --steps 2000
    python train.py --resume runs/RUN                   # continue a run exactly where it stopped

Defaults follow Decision Transformer's published settings (Chen et al. 2021). Logs go to
TensorBoard (losses/, charts/, eval/) in the run folder, beside config.json and checkpoint.pt.
"""

import dataclasses
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, Union

import numpy as np
import torch
import tyro
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from torch.utils.tensorboard import SummaryWriter

from agents import (
    BACKBONES,
    DecisionModel,
    DecisionModelConfig,
    config_from_spec,
    config_to_spec,
)
from agents.atomic_file import atomic_write
from agents.checkpoint import CheckpointError, load_checkpoint, model_payload, save_checkpoint
from agents.device import resolve_device
from datasets import DatasetError, OfflineDataset, WindowSampler, load_dataset
from envs import evaluate_model, normalized_score, reference_returns
from envs.target_returns import default_target_returns

# `backbone:<name>` subcommands, generated from the registry.
BackboneChoice = Union[  # noqa: UP007 (a tuple of types needs the subscript form)
    tuple(
        Annotated[cls, tyro.conf.subcommand(name, default=cls())] for name, cls in BACKBONES.items()
    )
]


@dataclass(frozen=True)
class Args:
    backbone: BackboneChoice = BACKBONES["min-gru"]()
    """The sequence backbone and its settings."""
    dataset: str = "replica/hopper/mini-v0"
    """Minari dataset id (local store, else the project's bundled datasets)."""
    out_dir: Path | None = None
    """Run folder (default: runs/<dataset>__<backbone>__<seed>__<time>)."""
    resume: Path | None = None
    """Continue the run in this folder from its last checkpoint (same config; --steps may grow)."""
    steps: int = 100_000
    """Gradient steps."""
    batch_size: int = 64
    """Windows per gradient step."""
    context_length: int = 20
    """K, steps per window (up to 1000 with --from-episode-start)."""
    from_episode_start: bool = False
    """Start every window at its episode's first step (full-trajectory training of RNNs)."""
    layout: Literal["interleaved", "stacked"] = "interleaved"
    """Tokens per step: (R, s, a) interleaved as Decision Transformer, or one stacked token."""
    learning_rate: float = 1e-4
    """AdamW peak learning rate."""
    weight_decay: float = 1e-4
    """AdamW weight decay, on weight matrices only."""
    warmup_steps: int = 10_000
    """Linear learning-rate warm-up."""
    grad_clip: float = 0.25
    """Gradient norm clip."""
    return_scale: float = 1e-3
    """Returns-to-go are scaled by this before embedding."""
    seed: int = 0
    """Seeds the model, the window sampler, dropout and the evaluation envs."""
    eval_every: int = 10_000
    """Evaluate every this many steps (and at the end)."""
    eval_episodes: int = 10
    """Episodes per target return at each evaluation; 0 turns evaluation off."""
    eval_mode: Literal["recurrent", "windowed"] = "recurrent"
    """Rollout protocol at evaluation: carried state, or re-reading the last K steps."""
    target_returns: tuple[float, ...] | None = None
    """Returns to condition on at evaluation (default: the environment's, as CORL)."""
    checkpoint_every: int = 1_000
    """Write checkpoint.pt every this many steps (and at the end)."""
    log_every: int = 100
    """Log losses and speed every this many steps."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Where to train; auto picks cuda when available. bf16 autocast on cuda."""
    compile: bool = False
    """torch.compile the model (first steps are slower)."""


CLI_CONFIG = (tyro.conf.CascadeSubcommandArgs,)

# Fields that may differ when resuming: they change neither the model nor the trajectory of
# training up to the step it stopped at.
RESUMABLE_CHANGES = {
    "resume",
    "out_dir",
    "steps",
    "eval_every",
    "eval_episodes",
    "log_every",
    "device",
}


class UsageError(Exception):
    """Bad input from the command line: reported in one line, exit status 2."""


def args_to_dict(args: Args) -> dict:
    fields = {f.name: getattr(args, f.name) for f in dataclasses.fields(args)}
    fields["backbone"] = config_to_spec(args.backbone)
    for name in ("out_dir", "resume"):
        fields[name] = None if fields[name] is None else str(fields[name])
    fields["target_returns"] = None if args.target_returns is None else list(args.target_returns)
    return fields


def args_from_dict(fields: dict) -> Args:
    fields = dict(fields)
    fields["backbone"] = config_from_spec(fields["backbone"])
    for name in ("out_dir", "resume"):
        fields[name] = None if fields[name] is None else Path(fields[name])
    if fields["target_returns"] is not None:
        fields["target_returns"] = tuple(fields["target_returns"])
    return Args(**fields)


def validate(args: Args) -> None:
    for name in (
        "steps",
        "batch_size",
        "context_length",
        "eval_every",
        "checkpoint_every",
        "log_every",
    ):
        if getattr(args, name) <= 0:
            raise UsageError(
                f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}"
            )
    if args.eval_episodes < 0:
        raise UsageError(f"--eval-episodes must be >= 0, got {args.eval_episodes}")
    if args.from_episode_start and args.context_length > 1000:
        raise UsageError(f"--context-length {args.context_length} exceeds the 1000-step episodes")
    if args.target_returns is not None and not all(map(math.isfinite, args.target_returns)):
        raise UsageError(f"--target-returns must be finite numbers, got {args.target_returns}")


def parse_args(argv: list[str] | None) -> Args:
    """The command line; with --resume, the saved run's config, of which only the fields in
    RESUMABLE_CHANGES may be changed by flags."""
    args = tyro.cli(Args, args=argv, config=CLI_CONFIG)
    if args.resume is None:
        return args
    config_path = args.resume / "config.json"
    if not config_path.is_file():
        raise UsageError(f"--resume {args.resume}: no config.json there (not a run folder)")
    saved = dataclasses.replace(
        args_from_dict(json.loads(config_path.read_text())), resume=args.resume
    )
    args = tyro.cli(Args, args=argv, default=saved, config=CLI_CONFIG)
    changed = [
        f"--{field.name.replace('_', '-')}"
        for field in dataclasses.fields(Args)
        if field.name not in RESUMABLE_CHANGES
        and getattr(args, field.name) != getattr(saved, field.name)
    ]
    if changed:
        raise UsageError(f"--resume {args.resume}: {', '.join(changed)} differ from the saved run")
    return args


def prepare_run_folder(args: Args) -> tuple[Path, dict | None]:
    """The run's folder, and the checkpoint to resume from (None for a new run)."""
    if args.resume is not None:
        checkpoint_path = args.resume / "checkpoint.pt"
        return args.resume, load_checkpoint(checkpoint_path) if checkpoint_path.exists() else None
    backbone = config_to_spec(args.backbone)["type"]
    run_dir = args.out_dir or Path("runs") / "__".join(
        [args.dataset.replace("/", "-"), backbone, str(args.seed), time.strftime("%Y%m%d-%H%M%S")]
    )
    if run_dir.exists() and any(run_dir.iterdir()):
        raise UsageError(
            f"--out-dir {run_dir} already holds files; use --resume {run_dir} or another folder"
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    with atomic_write(run_dir / "config.json", "w") as file:
        json.dump(args_to_dict(args), file, indent=2)
    return run_dir, None


def make_optimizer(model: DecisionModel, args: Args, device: torch.device) -> torch.optim.AdamW:
    # Decay weight matrices only, as nanoGPT: not biases, norms or state-space parameters.
    parameters = [p for p in model.parameters() if p.requires_grad]
    decayed = [p for p in parameters if p.dim() >= 2 and not getattr(p, "no_weight_decay", False)]
    kept = [p for p in parameters if p.dim() < 2 or getattr(p, "no_weight_decay", False)]
    groups = [
        {"params": decayed, "weight_decay": args.weight_decay},
        {"params": kept, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=args.learning_rate, fused=device.type == "cuda")


def make_scheduler(
    optimizer: torch.optim.Optimizer, args: Args
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up to the peak learning rate, then constant (as Decision Transformer)."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / args.warmup_steps, 1.0)
    )


def optimization_step(model, optimizer, scheduler, loss: torch.Tensor, grad_clip: float) -> None:
    """Backward, clip, step: no host synchronisation (the loss stays on the device)."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    scheduler.step()


def build_model(args: Args, dataset: OfflineDataset) -> DecisionModel:
    config = DecisionModelConfig(
        observation_dim=dataset.observation_dim,
        action_dim=dataset.action_dim,
        layout=args.layout,
        context_length=args.context_length,
        max_timestep=max(1000, int(dataset.timesteps.max()) + 1),
        return_scale=args.return_scale,
    )
    model = DecisionModel(config, args.backbone.build())
    model.set_observation_statistics(dataset.observation_mean, dataset.observation_std)
    return model


def masked_action_loss(model: DecisionModel, batch) -> torch.Tensor:
    """Mean squared error of the predicted actions over the real (unpadded) steps."""
    predicted = model(batch.returns_to_go, batch.observations, batch.actions, batch.timesteps)
    squared_error = (predicted.float() - batch.actions).pow(2).mean(dim=-1)  # (B, K)
    return (squared_error * batch.mask).sum() / batch.mask.sum()


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


def train(argv: list[str] | None = None) -> Path:
    """Run training from command-line arguments; returns the run folder."""
    args = parse_args(argv)
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


def main(argv: list[str] | None = None) -> int:
    try:
        run_dir = train(argv)
    except (UsageError, DatasetError, CheckpointError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"run folder: {run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
