"""Trained runs to evaluate: checkpoints loaded without executing code, checked to belong
together."""

from dataclasses import dataclass
from pathlib import Path

import torch

from agents.checkpoint import load_models
from infra.checkpoint_files import CheckpointError, load_checkpoint
from infra.errors import UsageError
from scoring.grouping import SeedRecord, group_runs, seed_record


@dataclass(frozen=True)
class TrainedModel:
    """One trained model: a run folder's, or one member of a run that trained several seeds."""

    checkpoint: Path
    payload: dict
    model: torch.nn.Module
    training_seed: int | None

    @property
    def backbone(self) -> str:
        return self.payload["model"]["spec"]["backbone"]["type"]

    @property
    def name(self) -> str:
        """The run folder's name (the file's, for a checkpoint elsewhere), and the member's seed."""
        stem = (
            self.checkpoint.parent.name
            if self.checkpoint.name == "checkpoint.pt"
            else (self.checkpoint.stem)
        )
        member = "members" in self.payload and self.training_seed is not None
        return f"{stem}__seed-{self.training_seed}" if member else stem

    @property
    def record(self) -> SeedRecord:
        return seed_record(self.checkpoint, self.payload, self.training_seed)


def load_run(path: Path, device: str) -> list[TrainedModel]:
    """The model(s) of a run folder or checkpoint file: one, or one per member."""
    if not path.exists():
        raise UsageError(f"{path}: no such run folder or checkpoint")
    checkpoint = path / "checkpoint.pt" if path.is_dir() else path
    try:
        payload = load_checkpoint(checkpoint)
        models = load_models(payload, device, source=checkpoint)
    except CheckpointError as error:
        raise UsageError(str(error)) from None
    for key in ("dataset", "config", "step"):
        if key not in payload:
            raise UsageError(
                f"{checkpoint}: no {key!r} entry (not a checkpoint written by train.py)"
            )
    return [
        TrainedModel(
            checkpoint, payload, model, payload["config"].get("seed") if seed is None else seed
        )
        for seed, model in models
    ]


def load_runs(paths: tuple[Path, ...], device: str) -> list[TrainedModel]:
    """Every run (each member of a run of several seeds is one), checked before any rollout to
    be of the same environment and dataset, and to be distinct runs (scoring.grouping)."""
    runs = [run for path in paths for run in load_run(path, device)]
    first = runs[0]
    for run in runs[1:]:
        for key in ("env_id", "id"):
            if run.payload["dataset"][key] != first.payload["dataset"][key]:
                raise UsageError(
                    f"{run.checkpoint} is for {run.payload['dataset'][key]} but {first.checkpoint}"
                    f" is for {first.payload['dataset'][key]}: runs evaluated together must share"
                    " their environment and dataset"
                )
    group_runs([run.record for run in runs])  # refuses a run given twice, or one seed twice
    return runs
