"""The run folder: config.json, TensorBoard events and checkpoint.pt of one training run."""

import json
import time
from pathlib import Path

from agents import config_to_spec
from infra.atomic_files import write_json
from infra.checkpoint_files import load_checkpoint
from infra.errors import UsageError
from infra.locks import Lock, acquire_lock
from training.config import Args, args_to_dict

LOCK_NAME = ".lock"  # held by the process writing the run (infra/locks.py)


def open_run_folder(args: Args) -> tuple[Path, Lock, dict | None]:
    """The run's folder, locked against a second writer (released even on kill -9), and the
    checkpoint to continue from (None for a new run, or one killed before its first)."""
    if args.resume is None:
        run_dir = args.out_dir or default_run_folder(args)
        check_empty(run_dir)  # before taking the lock: another run's folder stays untouched
        make_folder(run_dir)
        lock = acquire_lock(run_dir / LOCK_NAME, f"run folder {run_dir}")
        try:
            check_empty(run_dir)
            write_config(run_dir, args)
        except BaseException:
            lock.release()
            raise
        return run_dir, lock, None
    lock = acquire_lock(args.resume / LOCK_NAME, f"run folder {args.resume}")
    try:
        remove_interrupted_writes(args.resume)
        return args.resume, lock, resumed_checkpoint(args)
    except BaseException:
        lock.release()
        raise


def default_run_folder(args: Args) -> Path:
    backbone = config_to_spec(args.backbone)["type"]
    seeds = str(args.seed) if args.seeds is None else "seeds" + "-".join(map(str, args.seeds))
    return Path("runs") / "__".join(
        [args.dataset.replace("/", "-"), backbone, seeds, time.strftime("%Y%m%d-%H%M%S")]
    )


def check_empty(run_dir: Path) -> None:
    if run_dir.exists() and not run_dir.is_dir():
        raise UsageError(f"--out-dir {run_dir} is a file; give a new or empty folder")
    if run_dir.exists() and any(p.name != LOCK_NAME for p in run_dir.iterdir()):
        raise UsageError(
            f"--out-dir {run_dir} already holds files; use --resume {run_dir} or another folder"
        )


def make_folder(run_dir: Path) -> None:
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"--out-dir {run_dir}: cannot create it: {error.strerror}") from None


def write_config(run_dir: Path, args: Args) -> None:
    write_json(run_dir / "config.json", args_to_dict(args))


def remove_interrupted_writes(run_dir: Path) -> None:
    """Temporary files of writes a kill interrupted (atomic_write's `.<name>.*.tmp`); only
    while holding the folder's lock: another writer's files in flight look the same."""
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
