"""A training run's settings: the command line (tyro), their checks, and their JSON form.

Defaults follow Decision Transformer's published settings (Chen et al. 2021)."""

import dataclasses
import enum
import json
import math
import sys
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, Union

import torch
import tyro

from agents import BACKBONES, config_from_spec, config_to_spec
from agents.kernels.available import refusal
from infra.errors import ConfigError, UsageError
from infra.field_types import check_field_types, from_plain, to_plain

# `backbone:<name>` subcommands, generated from the registry.
BackboneChoice = Union[  # noqa: UP007 (a tuple of types needs the subscript form)
    tuple(
        Annotated[cls, tyro.conf.subcommand(name, default=cls())] for name, cls in BACKBONES.items()
    )
]


class Role(enum.Enum):
    """How a setting behaves when a run is resumed and when runs are pooled as seeds.
    Every field of Args declares one; the resume check, the grouping of runs into seeds and the
    suite's settings all follow from it."""

    EXPERIMENT = "experiment"
    """Shapes what is learned: fixed on --resume; runs that differ in it are other experiments."""
    SEED = "seed"
    """Fixed on --resume; what the seeds of one experiment differ in."""
    BUDGET = "budget"
    """May grow on --resume; runs are compared by the steps they actually trained."""
    EVALUATION = "evaluation"
    """How the periodic evaluations ran: fixed on --resume (one protocol per learning curve),
    and not part of the experiment."""
    INCIDENTAL = "incidental"
    """Where and how often (folders, logging, checkpoints, device): may change on --resume,
    and not part of the experiment."""

    @property
    def may_change_on_resume(self) -> bool:
        return self in (Role.BUDGET, Role.INCIDENTAL)

    @property
    def defines_experiment(self) -> bool:
        return self is Role.EXPERIMENT


_DEFAULT = object()


def setting(default, role: Role, suite_key: str | None = None, absent=_DEFAULT):
    """An Args field: its default, its Role, and, for a setting a benchmark suite decides for
    each run itself, the suite's own key that decides it (e.g. `datasets` for `dataset`).
    `absent`: the value that a config.json written before the setting existed implies, when it
    is not the default (e.g. no held-out episodes)."""
    absent = default if absent is _DEFAULT else absent
    metadata = {"role": role, "suite_key": suite_key, "absent": absent}
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Args:
    """Train a decision model with any registered backbone on one offline dataset.
    Defaults are Decision Transformer's published settings; --resume continues a run exactly."""

    backbone: BackboneChoice = setting(BACKBONES["min-gru"](), Role.EXPERIMENT, "backbones")
    """The sequence backbone and its settings."""
    dataset: str = setting("replica/hopper/mini-v0", Role.EXPERIMENT, "datasets")
    """Minari dataset id (local store, else the project's bundled datasets)."""
    out_dir: Annotated[
        Path | None,
        tyro.conf.arg(help_behavior_hint="(default: runs/<dataset>__<backbone>__<seed>__<time>)"),
    ] = setting(None, Role.INCIDENTAL, "--out-dir")
    """Run folder."""
    resume: Annotated[Path | None, tyro.conf.arg(help_behavior_hint="(optional)")] = setting(
        None, Role.INCIDENTAL, "--out-dir"
    )
    """Continue the run in this folder from its last checkpoint (same config; --steps may grow)."""
    steps: int = setting(100_000, Role.BUDGET)
    """Gradient steps."""
    batch_size: int = setting(64, Role.EXPERIMENT)
    """Windows per gradient step."""
    context_length: int = setting(20, Role.EXPERIMENT)
    """K, steps per window (up to 1000 with --from-episode-start)."""
    from_episode_start: bool = setting(False, Role.EXPERIMENT)
    """Start every window at its episode's first step (full-trajectory training of RNNs)."""
    layout: Literal["interleaved", "stacked"] = setting("interleaved", Role.EXPERIMENT)
    """Tokens per step: (R, s, a) interleaved as Decision Transformer, or one stacked token."""
    learning_rate: float = setting(1e-4, Role.EXPERIMENT)
    """AdamW peak learning rate."""
    weight_decay: float = setting(1e-4, Role.EXPERIMENT)
    """AdamW weight decay, on weight matrices only."""
    warmup_steps: int = setting(10_000, Role.EXPERIMENT)
    """Linear learning-rate warm-up."""
    grad_clip: float = setting(0.25, Role.EXPERIMENT)
    """Gradient norm clip."""
    return_scale: float = setting(1e-3, Role.EXPERIMENT)
    """Returns-to-go are scaled by this before embedding."""
    seed: int = setting(0, Role.SEED, "seeds")
    """Seeds the model, the window sampler, dropout and the evaluation envs."""
    member_batching: Literal["auto", "vmap", "loop"] = setting("auto", Role.INCIDENTAL)
    """How --seeds members share a step: vmap (one batched computation, for GPUs) or loop (one
    member after another in one graph, faster on CPUs). auto: vmap on cuda, else loop."""
    seeds: Annotated[
        tuple[int, ...] | None, tyro.conf.arg(help_behavior_hint="(default: --seed alone)")
    ] = setting(None, Role.SEED, "seeds")
    """Train one member per seed, as one batched computation in this process and one run folder.
    Excludes --seed."""
    eval_every: int = setting(10_000, Role.INCIDENTAL)
    """Evaluate every this many steps (and at the end)."""
    eval_episodes: int = setting(10, Role.INCIDENTAL)
    """Episodes per target return at each evaluation; 0 turns evaluation off."""
    eval_mode: Literal["recurrent", "windowed"] = setting(
        "recurrent", Role.EVALUATION, "eval_modes"
    )
    """Rollout protocol at evaluation: carried state, or re-reading the last K steps."""
    target_returns: Annotated[
        tuple[float, ...] | None,
        tyro.conf.arg(
            help_behavior_hint="(default: CORL's for the env, e.g. 3600 1800 for Hopper)"
        ),
    ] = setting(None, Role.EVALUATION)
    """Returns to condition on at evaluation."""
    checkpoint_every: int = setting(1_000, Role.INCIDENTAL)
    """Write checkpoint.pt every this many steps (and at the end)."""
    log_every: int = setting(100, Role.INCIDENTAL)
    """Log losses and speed every this many steps."""
    device: Literal["auto", "cpu", "cuda"] = setting("auto", Role.INCIDENTAL, "--device")
    """Where to train; auto picks cuda when available. bf16 autocast on cuda."""
    compile: bool = setting(False, Role.INCIDENTAL)
    """torch.compile the model, on cuda as CUDA graphs (mode reduce-overhead).
    The first steps are slower."""
    adapt_threads: bool = setting(False, Role.INCIDENTAL)
    """Follow the CPU cores other processes leave free during the run (every second) instead
    of fixing the thread count at the start: faster where the load changes, but it gives up
    bitwise equality: a resumed run no longer matches an uninterrupted one bit for bit."""
    eval_process: Literal["auto", "inline", "background"] = setting("auto", Role.INCIDENTAL)
    """Where periodic evaluation runs: inline (training waits for it) or in the background.
    background: a CPU process evaluates a snapshot of the weights while training goes on.
    auto: background on cuda, inline on cpu."""
    video_every: int = setting(0, Role.INCIDENTAL)
    """Log a clip of an evaluation episode (first target return, env 0) to TensorBoard
    (videos/eval) every this many steps (the first member of --seeds); 0: never.
    Needs '.[video]'."""
    val_fraction: float = setting(0.02, Role.EXPERIMENT, absent=0.0)
    """Fraction of the dataset's episodes held out of training for the validation loss (chosen
    with --val-seed); 0 turns validation off."""
    val_seed: int = setting(0, Role.EXPERIMENT)
    """Chooses the held-out episodes: the same for every member of --seeds and on --resume."""
    val_every: int = setting(1_000, Role.INCIDENTAL)
    """Log the action loss on all held-out windows (val/action_loss) every this many steps."""
    keep_best_val: bool = setting(False, Role.INCIDENTAL)
    """Also keep checkpoint_best_val.pt: the weights at the lowest validation loss so far."""


def role_of(name: str) -> Role:
    return ARGS_FIELDS[name].metadata["role"]


ARGS_FIELDS = {field.name: field for field in dataclasses.fields(Args)}
# Fields that may differ when resuming: they change neither the model nor the trajectory of
# training up to the step it stopped at.
RESUMABLE_CHANGES = frozenset(name for name in ARGS_FIELDS if role_of(name).may_change_on_resume)


CLI_CONFIG = (tyro.conf.CascadeSubcommandArgs,)
PROG = "python train.py"  # the usage line shows the command a user types


def args_to_dict(args: Args) -> dict:
    """config.json's form: plain values only, the backbone as its {"type", "params"} spec."""
    fields = {name: to_plain(getattr(args, name)) for name in ARGS_FIELDS}
    return fields | {"backbone": config_to_spec(args.backbone)}


def args_from_dict(fields: dict) -> Args:
    """Args from config.json's form (settings it lacks, from an older run, take defaults)."""
    hints = typing.get_type_hints(Args)
    absent = {name: field.metadata["absent"] for name, field in ARGS_FIELDS.items()}
    values = {
        name: from_plain(hints[name], value)
        for name, value in (absent | fields).items()
        if name != "backbone"
    }
    return Args(backbone=config_from_spec(fields["backbone"]), **values)


def validate(args: Args) -> None:
    """Every field's type (the same check a suite file's values get), then each setting's own
    constraints; UsageError names the flag."""
    try:
        check_field_types(args, name_of=flag)
    except ConfigError as error:
        raise UsageError(str(error)) from None
    for name in ARGS_FIELDS:
        value = getattr(args, name)
        if isinstance(value, float) and not math.isfinite(value):
            raise UsageError(f"{flag(name)} must be a finite number, got {value}")
    for name in (
        "steps",
        "batch_size",
        "context_length",
        "eval_every",
        "checkpoint_every",
        "log_every",
        "val_every",
        "warmup_steps",
        "learning_rate",
        "grad_clip",
        "return_scale",
    ):
        if not getattr(args, name) > 0:
            raise UsageError(f"{flag(name)} must be positive, got {getattr(args, name)}")
    if not args.weight_decay >= 0:
        raise UsageError(f"--weight-decay must be >= 0, got {args.weight_decay}")
    if args.eval_episodes < 0:
        raise UsageError(f"--eval-episodes must be >= 0, got {args.eval_episodes}")
    if not 0 <= args.val_fraction <= 0.5:
        raise UsageError(f"--val-fraction must be in [0, 0.5], got {args.val_fraction}")
    if args.video_every < 0:
        raise UsageError(f"--video-every must be >= 0, got {args.video_every}")
    if args.from_episode_start and args.context_length > 1000:
        raise UsageError(f"--context-length {args.context_length} exceeds the 1000-step episodes")
    if args.seeds is not None and not args.seeds:
        raise UsageError("--seeds needs at least one seed")
    if args.seeds is not None and len(set(args.seeds)) < len(args.seeds):
        raise UsageError(f"--seeds must differ from each other, got {list(args.seeds)}")
    if args.target_returns is not None and not all(map(math.isfinite, args.target_returns)):
        raise UsageError(f"--target-returns must be finite numbers, got {args.target_returns}")
    # A kernel that cannot run on the training device (scan "cpu" on cuda), refused before any
    # tensor reaches it; "auto" as resolve_device reads it, without needing the device here.
    on_cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    scan = getattr(args.backbone, "scan", None)
    reason = scan and refusal(scan, torch.device("cuda" if on_cuda else "cpu"))
    if reason:
        raise UsageError(f"--backbone.scan {reason} (--device {args.device})")


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
