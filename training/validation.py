"""Held-out validation: a fraction of the dataset's episodes kept out of training, and the action
loss on all of their windows, every --val-every steps.

The held-out episodes follow from (number of episodes, --val-fraction, --val-seed) alone: the
same for every member of a run of several seeds, and again on --resume. Their windows tile each
episode, [0, K), [K, 2K), ... (each episode's first K steps alone with --from-episode-start),
so every held-out step is predicted once, with the context training gives it.

The loss says how well the model imitates the data's actions on episodes it has not seen: it
falls while the model learns and rises when it overfits. It does not say how well the model
acts in the environment, where its own mistakes compound, and it does not rank backbones by
score."""

import json
import math
from pathlib import Path

import numpy as np
import torch

from datasets import OfflineDataset, WindowSampler, load_dataset
from infra.atomic_files import write_json
from infra.errors import UsageError
from training.config import Args, args_from_dict
from training.objective import masked_action_loss

SUMMARY_NAME = "validation.json"
BEST_CHECKPOINT_NAME = "checkpoint_best_val.pt"
WINDOWS_PER_BATCH = 256


def held_out_episodes(num_episodes: int, fraction: float, seed: int) -> np.ndarray:
    """The indices (sorted) of floor(fraction × episodes) episodes, drawn with `seed`."""
    count = math.floor(round(fraction * num_episodes, 9))  # 0.29 * 100 is 28.999...
    chosen = np.random.default_rng(seed).choice(num_episodes, size=count, replace=False)
    return np.sort(chosen).astype(np.int64)


class Validation:
    """The split of one run's dataset, the held-out windows, and the best loss so far."""

    def __init__(self, args: Args, dataset: OfflineDataset, device, run_dir: Path | None = None):
        self.args, self.run_dir = args, run_dir
        self.held_out = held_out_episodes(dataset.num_episodes, args.val_fraction, args.val_seed)
        self.note = None
        if args.val_fraction > 0 and len(self.held_out) == 0:
            needed = math.ceil(1 / args.val_fraction)
            self.note = (
                f"validation off: {dataset.dataset_id} has {dataset.num_episodes} episodes, too "
                f"few to hold out {args.val_fraction:g} of them (needs {needed}); give a larger "
                "--val-fraction, or 0"
            )
        kept = np.setdiff1d(np.arange(dataset.num_episodes), self.held_out)
        self.training_set = dataset.select_episodes(kept) if len(self.held_out) else dataset
        self.batches = self._held_out_windows(dataset, device) if len(self.held_out) else []
        self.best: dict | None = None
        self.latest: dict[str, float] = {}

    @property
    def enabled(self) -> bool:
        return bool(self.batches)

    def _held_out_windows(self, dataset: OfflineDataset, device) -> list:
        held_out = dataset.select_episodes(self.held_out)
        K = self.args.context_length
        sampler = WindowSampler(held_out, K, device, self.args.from_episode_start)
        starts = [
            start + np.arange(0, 1 if self.args.from_episode_start else length, K)
            for start, length in zip(held_out.episode_starts, held_out.episode_lengths, strict=True)
        ]
        starts = torch.from_numpy(np.concatenate(starts))  # (windows,)
        return [sampler.windows_at(chunk) for chunk in starts.split(WINDOWS_PER_BATCH)]

    def due(self, step: int) -> bool:
        return self.enabled and (step % self.args.val_every == 0 or step == self.args.steps)

    @torch.no_grad()
    def loss(self, model) -> float:
        """Mean squared action error over every real step of the held-out windows."""
        was_training = model.training
        model.eval()
        try:
            total = weight = 0.0
            for batch in self.batches:
                steps = float(batch.mask.sum())
                total += float(masked_action_loss(model, batch)) * steps
                weight += steps
            return total / weight
        finally:
            model.train(was_training)

    def scalars(self, models: dict) -> dict[str, float]:
        """val/action_loss of one model (seed None); for members, each one's under
        val/action_loss/seed_<seed> and their mean under val/action_loss."""
        losses = {seed: self.loss(model) for seed, model in models.items()}
        scalars = {"val/action_loss": float(np.mean(list(losses.values())))}
        if list(losses) != [None]:
            scalars |= {f"val/action_loss/seed_{seed}": loss for seed, loss in losses.items()}
        return scalars

    def resume(self, start: int) -> None:
        """The best loss so far, from the run's summary (steps after `start` were lost)."""
        path = self.run_dir / SUMMARY_NAME
        if start and path.is_file():
            best = json.loads(path.read_text()).get("best")
            self.best = best if best is not None and best["step"] <= start else None

    def record(self, models: dict, step: int, writer) -> bool:
        """Log the losses, write the run's summary (validation.json); True if the mean loss
        is the lowest so far."""
        scalars = self.latest = self.scalars(models)
        for tag, value in scalars.items():
            writer.add_scalar(tag, value, step)
        loss = scalars["val/action_loss"]
        improved = self.best is None or loss < self.best["action_loss"]
        if improved:
            self.best = {"step": step, "action_loss": loss}
        if self.run_dir is not None:
            write_json(self.run_dir / SUMMARY_NAME, self.summary(scalars, step))
        return improved

    def summary(self, scalars: dict[str, float], step: int) -> dict:
        return {
            "val_fraction": self.args.val_fraction,
            "val_seed": self.args.val_seed,
            "held_out_episodes": self.held_out.tolist(),
            "windows": sum(len(batch.mask) for batch in self.batches),
            "step": step,
            "action_loss": scalars,
            "best": self.best,
        }


def held_out_losses(runs, device) -> list[dict]:
    """The held-out action loss of trained models (scoring.TrainedModel: a checkpoint's model,
    payload and training seed), each on its own run's held-out episodes; no environment made."""
    results, validations = [], {}
    for run in runs:
        args = args_from_dict(run.payload["config"])
        key = (
            args.dataset,
            args.val_fraction,
            args.val_seed,
            args.context_length,
            args.from_episode_start,
        )
        if key not in validations:
            validations[key] = Validation(args, load_dataset(args.dataset), device)
        validation = validations[key]
        if not validation.enabled:
            raise UsageError(
                f"{run.checkpoint}: its run held no episodes out (--val-fraction "
                f"{args.val_fraction:g}); there is no held-out loss to report"
            )
        results.append(
            {
                "checkpoint": str(run.checkpoint),
                "step": run.payload["step"],
                "training_seed": run.training_seed,
                "dataset": args.dataset,
                "held_out_episodes": len(validation.held_out),
                "windows": sum(len(batch.mask) for batch in validation.batches),
                "val_action_loss": validation.loss(run.model),
            }
        )
    return results


def held_out_line(entry: dict) -> str:
    """One entry of held_out_losses as evaluate.py --no-env prints it."""
    return (
        f"{entry['checkpoint']} (step {entry['step']}): held-out action loss "
        f"{entry['val_action_loss']:.5f} on {entry['windows']} windows of "
        f"{entry['held_out_episodes']} episodes of {entry['dataset']}"
    )
