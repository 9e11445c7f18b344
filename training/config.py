"""A training run's settings: the command line (tyro), their checks, and their JSON form.

Defaults follow Decision Transformer's published settings (Chen et al. 2021)."""

import dataclasses
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, Union

import tyro

from agents import BACKBONES, config_from_spec, config_to_spec
from infra.errors import UsageError

# `backbone:<name>` subcommands, generated from the registry.
BackboneChoice = Union[  # noqa: UP007 (a tuple of types needs the subscript form)
    tuple(
        Annotated[cls, tyro.conf.subcommand(name, default=cls())] for name, cls in BACKBONES.items()
    )
]


@dataclass(frozen=True)
class Args:
    """Train a decision model with any registered backbone on one offline dataset.
    Defaults are Decision Transformer's published settings; --resume continues a run exactly."""

    backbone: BackboneChoice = BACKBONES["min-gru"]()
    """The sequence backbone and its settings."""
    dataset: str = "replica/hopper/mini-v0"
    """Minari dataset id (local store, else the project's bundled datasets)."""
    out_dir: Annotated[
        Path | None,
        tyro.conf.arg(help_behavior_hint="(default: runs/<dataset>__<backbone>__<seed>__<time>)"),
    ] = None
    """Run folder."""
    resume: Annotated[Path | None, tyro.conf.arg(help_behavior_hint="(optional)")] = None
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
    member_batching: Literal["auto", "vmap", "loop"] = "auto"
    """How --seeds members share a step: vmap (one batched computation, for GPUs) or loop (one
    member after another in one graph, faster on CPUs). auto: vmap on cuda, else loop."""
    seeds: Annotated[
        tuple[int, ...] | None, tyro.conf.arg(help_behavior_hint="(default: --seed alone)")
    ] = None
    """Train one member per seed, as one batched computation in this process and one run folder.
    Excludes --seed."""
    eval_every: int = 10_000
    """Evaluate every this many steps (and at the end)."""
    eval_episodes: int = 10
    """Episodes per target return at each evaluation; 0 turns evaluation off."""
    eval_mode: Literal["recurrent", "windowed"] = "recurrent"
    """Rollout protocol at evaluation: carried state, or re-reading the last K steps."""
    target_returns: Annotated[
        tuple[float, ...] | None,
        tyro.conf.arg(
            help_behavior_hint="(default: CORL's for the env, e.g. 3600 1800 for Hopper)"
        ),
    ] = None
    """Returns to condition on at evaluation."""
    checkpoint_every: int = 1_000
    """Write checkpoint.pt every this many steps (and at the end)."""
    log_every: int = 100
    """Log losses and speed every this many steps."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Where to train; auto picks cuda when available. bf16 autocast on cuda."""
    compile: bool = False
    """torch.compile the model, on cuda as CUDA graphs (mode reduce-overhead).
    The first steps are slower."""
    eval_process: Literal["auto", "inline", "background"] = "auto"
    """Where periodic evaluation runs: inline (training waits for it) or in the background.
    background: a CPU process evaluates a snapshot of the weights while training goes on.
    auto: background on cuda, inline on cpu."""


CLI_CONFIG = (tyro.conf.CascadeSubcommandArgs,)
PROG = "python train.py"  # the usage line shows the command a user types

# Fields that may differ when resuming: they change neither the model nor the trajectory of
# training up to the step it stopped at.
RESUMABLE_CHANGES = {
    "resume",
    "out_dir",
    "steps",
    "eval_every",
    "eval_episodes",
    "log_every",
    "checkpoint_every",
    "device",
    "compile",
    "eval_process",
    "member_batching",
}


def args_to_dict(args: Args) -> dict:
    fields = {f.name: getattr(args, f.name) for f in dataclasses.fields(args)}
    fields["backbone"] = config_to_spec(args.backbone)
    for name in ("out_dir", "resume"):
        fields[name] = None if fields[name] is None else str(fields[name])
    for name in ("target_returns", "seeds"):
        fields[name] = None if fields[name] is None else list(fields[name])
    return fields


def args_from_dict(fields: dict) -> Args:
    fields = dict(fields)
    fields["backbone"] = config_from_spec(fields["backbone"])
    for name in ("out_dir", "resume"):
        fields[name] = None if fields[name] is None else Path(fields[name])
    for name in ("target_returns", "seeds"):
        if fields.get(name) is not None:
            fields[name] = tuple(fields[name])
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
            raise UsageError(f"{flag(name)} must be positive, got {getattr(args, name)}")
    if args.eval_episodes < 0:
        raise UsageError(f"--eval-episodes must be >= 0, got {args.eval_episodes}")
    if args.from_episode_start and args.context_length > 1000:
        raise UsageError(f"--context-length {args.context_length} exceeds the 1000-step episodes")
    if args.seeds is not None and not args.seeds:
        raise UsageError("--seeds needs at least one seed")
    if args.seeds is not None and len(set(args.seeds)) < len(args.seeds):
        raise UsageError(f"--seeds must differ from each other, got {list(args.seeds)}")
    if args.target_returns is not None and not all(map(math.isfinite, args.target_returns)):
        raise UsageError(f"--target-returns must be finite numbers, got {args.target_returns}")


def parse_args(argv: list[str] | None) -> Args:
    """The command line; with --resume, the saved run's config, of which only the fields in
    RESUMABLE_CHANGES may be changed by flags."""
    args = tyro.cli(Args, args=argv, prog=PROG, config=CLI_CONFIG)
    given = sys.argv[1:] if argv is None else argv
    if args.seeds is not None and any(a == "--seed" or a.startswith("--seed=") for a in given):
        raise UsageError("--seed and --seeds exclude each other: give one")
    if args.resume is None:
        return args
    config_path = args.resume / "config.json"
    if not config_path.is_file():
        raise UsageError(f"--resume {args.resume}: no config.json there (not a run folder)")
    saved = dataclasses.replace(
        args_from_dict(json.loads(config_path.read_text())), resume=args.resume
    )
    args = tyro.cli(Args, args=argv, default=saved, prog=PROG, config=CLI_CONFIG)
    differences = [
        difference
        for field in dataclasses.fields(Args)
        if field.name not in RESUMABLE_CHANGES
        for difference in setting_differences(
            field.name, getattr(saved, field.name), getattr(args, field.name)
        )
    ]
    if differences:
        raise UsageError(
            f"--resume {args.resume}: settings differ from the saved run: {'; '.join(differences)}"
        )
    return args


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def setting_differences(name: str, saved, given) -> list[str]:
    """'--name: saved X, given Y' for a setting that differs; a backbone is compared field by
    field (`--backbone.d-model: saved 128, given 64`)."""
    if saved == given:
        return []
    if name == "backbone":
        saved_spec, given_spec = config_to_spec(saved), config_to_spec(given)
        if saved_spec["type"] != given_spec["type"]:
            return [f"backbone: saved {saved_spec['type']}, given {given_spec['type']}"]
        return [
            f"{flag('backbone.' + key)}: saved {value}, given {given_spec['params'][key]}"
            for key, value in saved_spec["params"].items()
            if given_spec["params"][key] != value
        ]
    return [f"{flag(name)}: saved {saved}, given {given}"]
