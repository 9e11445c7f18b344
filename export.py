"""Export a trained policy as one environment step with its recurrent state, to run without
this toolkit.

    python export.py runs/x --out policy.onnx                 # ONNX (needs the [export] extra)
    python export.py runs/x --out policy.pt2 --format torch   # a torch.export program
    python export.py runs/seeds --member 1 --out policy.onnx  # one member of a several-seed run

The graph takes the environment's observation, the return-to-go in raw reward units, the
timestep and the state, and gives the action for env.step and the next state. Its metadata
names the env, the default target return and how to build the initial state (docs/export.md).
"""

import importlib.util
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import tyro

from envs import default_target_returns, make_env
from envs.policy_export import export_program, policy_metadata, write_onnx, write_torch_program
from envs.policy_step import PolicyStep
from infra.errors import InputError, UsageError
from scoring.runs import TrainedModel, load_run

FORMATS = ("onnx", "torch")
# What the ONNX export imports: torch's exporter needs onnxscript, the file is written by onnx.
ONNX_MODULES = ("onnx", "onnxscript")


@dataclass(frozen=True)
class ExportArgs:
    run: Annotated[tyro.conf.Positional[Path], tyro.conf.arg(metavar="RUN")]
    """Run folder (its checkpoint.pt) or checkpoint file."""
    out: Path
    """File to write (policy.onnx, or policy.pt2 with --format torch); its folder must exist."""
    format: str = "onnx"
    """onnx (ONNX Runtime and other ONNX tools) or torch (a torch.export ExportedProgram)."""
    member: Annotated[
        int | None, tyro.conf.arg(help_behavior_hint="(default: the run's one model)")
    ] = None
    """Which member of a run that trained several seeds in one process (0, 1, ...)."""
    target_return: Annotated[
        float | None,
        tyro.conf.arg(help_behavior_hint="(default: CORL's high target, e.g. 3600 for Hopper)"),
    ] = None
    """The default target return written into the metadata."""


def validate(args: ExportArgs) -> None:
    if args.format not in FORMATS:
        raise UsageError(f"unknown --format {args.format!r}; expected one of {', '.join(FORMATS)}")
    if args.format == "onnx":
        missing = [name for name in ONNX_MODULES if importlib.util.find_spec(name) is None]
        if missing:
            raise UsageError(f"ONNX export needs {', '.join(missing)}: pip install -e '.[export]'")
    if args.target_return is not None and not math.isfinite(args.target_return):
        raise UsageError(f"--target-return must be a finite number, got {args.target_return}")
    if args.out.is_dir():
        raise UsageError(f"--out {args.out} is a folder; give a file path")
    if not args.out.parent.is_dir():
        raise UsageError(f"--out {args.out}: no such folder {args.out.parent}")


def chosen_member(run: Path, models: list[TrainedModel], member: int | None) -> TrainedModel:
    """The one model to export: a single run's, or member `member` of a several-seed run."""
    if len(models) == 1 and member in (None, 0):
        return models[0]
    if len(models) == 1:
        raise UsageError(f"--member {member}: {run} holds one model; leave --member out")
    seeds = ", ".join(str(model.training_seed) for model in models)
    if member is None or not 0 <= member < len(models):
        given = "" if member is None else f"--member {member} is out of range: "
        raise UsageError(
            f"{given}{run} holds {len(models)} members (seeds {seeds}); export one with "
            f"--member 0 .. {len(models) - 1}"
        )
    return models[member]


def main(argv: list[str] | None = None) -> None:
    args = tyro.cli(
        ExportArgs, args=argv, prog="python export.py", description=__doc__.split("\n\n")[0]
    )
    try:
        validate(args)
        trained = chosen_member(args.run, load_run(args.run, "cpu"), args.member)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    dataset = trained.payload["dataset"]
    env_id = dataset["env_id"]
    with make_env(env_id, **dataset.get("env_kwargs", {})) as env:
        action_space = env.action_space
    step = PolicyStep(trained.model.float(), action_space.low, action_space.high)
    target_return = args.target_return
    if target_return is None:
        target_return = default_target_returns(env_id, dataset.get("ref_max_score"))[0]
    metadata = policy_metadata(
        step,
        env_id=env_id,
        dataset=trained.payload["dataset"]["id"],
        backbone=trained.backbone,
        target_return=target_return,
        training_seed=trained.training_seed,
    )
    write = write_onnx if args.format == "onnx" else write_torch_program
    write(export_program(step), args.out, metadata)
    print(f"wrote {args.out} ({args.format}, {trained.backbone}, {env_id})")


if __name__ == "__main__":
    main()
