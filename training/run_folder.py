"""The run folder: config.json, TensorBoard events and checkpoint.pt of one training run."""

import json
import time
from pathlib import Path

from agents import config_to_spec
from agents.atomic_file import atomic_write
from agents.checkpoint import load_checkpoint
from training.config import Args, args_to_dict
from training.errors import UsageError


def new_run_folder(args: Args) -> Path:
    """The folder of a new run, made empty (or taken empty), config.json written."""
    backbone = config_to_spec(args.backbone)["type"]
    seeds = str(args.seed) if args.seeds is None else "seeds" + "-".join(map(str, args.seeds))
    run_dir = args.out_dir or Path("runs") / "__".join(
        [args.dataset.replace("/", "-"), backbone, seeds, time.strftime("%Y%m%d-%H%M%S")]
    )
    if run_dir.exists() and any(run_dir.iterdir()):
        raise UsageError(
            f"--out-dir {run_dir} already holds files; use --resume {run_dir} or another folder"
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    write_config(run_dir, args)
    return run_dir


def write_config(run_dir: Path, args: Args) -> None:
    with atomic_write(run_dir / "config.json", "w") as file:
        json.dump(args_to_dict(args), file, indent=2)


def remove_leftovers(run_dir: Path) -> None:
    """Temporary files of writes a kill interrupted (atomic_write's `.<name>.*.tmp`). Call it
    only while holding the folder's lock: another writer's files in flight look the same."""
    for leftover in run_dir.glob(".*.tmp"):
        leftover.unlink(missing_ok=True)


def resumed_checkpoint(args: Args) -> dict | None:
    """The checkpoint `--resume` continues from (None: the run stopped before its first one),
    checked against --steps; config.json is brought up to date with the settings that may
    change on resume (e.g. a larger --steps)."""
    run_dir = args.resume
    checkpoint_path = run_dir / "checkpoint.pt"
    checkpoint = load_checkpoint(checkpoint_path) if checkpoint_path.exists() else None
    if checkpoint is not None and checkpoint["step"] > args.steps:
        raise UsageError(
            f"--resume {run_dir}: the run is at step {checkpoint['step']}, beyond --steps "
            f"{args.steps}; give --steps {checkpoint['step']} or more"
        )
    if json.loads((run_dir / "config.json").read_text()) != args_to_dict(args):
        write_config(run_dir, args)
    return checkpoint
