"""The run folder: config.json, TensorBoard events and checkpoint.pt of one training run."""

import json
import time
from pathlib import Path

from agents import config_to_spec
from agents.atomic_file import atomic_write
from agents.checkpoint import load_checkpoint
from training.config import Args, args_to_dict
from training.errors import UsageError


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
