"""What a training checkpoint holds, and restoring a run from one on any device.

Everything in it is a tensor or a plain value (it loads with weights_only=True). The random
state of the window sampler is a CPU generator's, so a run started on CUDA resumes on a CPU
and the reverse; dropout's random stream is per device, so after such a move the run goes on
with the new device's stream (the same device continues bit for bit)."""

import torch

from agents.checkpoint import weights_mismatch
from datasets import OfflineDataset
from infra.checkpoint_files import CheckpointError
from infra.error_text import error_line


def dataset_summary(dataset: OfflineDataset) -> dict:
    """What evaluation needs to know of the training data, without loading it."""
    return {
        "id": dataset.dataset_id,
        "env_id": dataset.env_id,
        "env_kwargs": dataset.env_kwargs,
        "ref_min_score": dataset.ref_min_score,
        "ref_max_score": dataset.ref_max_score,
        # the behaviour data's own level, for charts: its mean undiscounted episode return
        "mean_episode_return": float(dataset.returns_to_go[dataset.episode_starts].mean()),
    }


def training_payload(
    model: dict, optimizer, scheduler, generators: list[torch.Generator], step: int, **entries
) -> dict:
    """model: {"spec", "state_dict"}; generators: the window samplers' CPU generators; entries:
    the rest (config, dataset, members)."""
    rng = {"torch": torch.get_rng_state(), "samplers": [g.get_state() for g in generators]}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        rng["cuda"] = torch.cuda.get_rng_state()
    return {
        "model": model,
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": rng,
        "step": step,
        **entries,
    }


def recorded_threads(checkpoint: dict | None) -> int | None:
    """The CPU thread count the run started with (infra.cpu_threads): a resumed run takes it
    again, so that its matrix products sum in the same order. None for a new run, or a
    checkpoint written before the count was recorded."""
    return None if checkpoint is None else checkpoint.get("cpu_threads")


def with_current_flags(saved: dict, optimizer: torch.optim.Optimizer) -> dict:
    """The saved optimiser state with this optimiser's implementation flags (fused, foreach,
    capturable): load_state_dict would otherwise bring back those of the device it was saved
    on, e.g. drop fused AdamW when a CPU checkpoint resumes on CUDA."""
    flags = ("fused", "foreach", "capturable")
    groups = [
        {**group, **{flag: current[flag] for flag in flags if flag in current}}
        for group, current in zip(saved["param_groups"], optimizer.param_groups, strict=True)
    ]
    return {**saved, "param_groups": groups}


def restore_weights(current: dict[str, torch.Tensor], saved: dict, where: str) -> None:
    """Copy `saved` into the tensors of `current` (a state dict, whose tensors share storage
    with the model's), after checking that names and shapes match."""
    mismatch = weights_mismatch(current, saved)
    if mismatch:
        raise CheckpointError(
            f"{where}: its weights do not match its model description ({mismatch})"
        )
    with torch.no_grad():
        for name, tensor in current.items():
            tensor.copy_(saved[name])


def restore_optimization(
    checkpoint: dict, where: str, optimizer, scheduler, generators: list[torch.Generator]
) -> int:
    """Load optimiser, scheduler and random states; returns the step to continue after.
    Anything that does not fit becomes a one-line CheckpointError naming `where`."""
    try:
        optimizer.load_state_dict(with_current_flags(checkpoint["optimizer"], optimizer))
        scheduler.load_state_dict(checkpoint["scheduler"])
        torch.set_rng_state(checkpoint["rng"]["torch"])
        states = checkpoint["rng"]["samplers"]
        if len(states) != len(generators):
            raise ValueError(f"{len(states)} sampler states for {len(generators)} samplers")
        for generator, state in zip(generators, states, strict=True):
            generator.set_state(state)
        if "cuda" in checkpoint["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state(checkpoint["rng"]["cuda"])
        return int(checkpoint["step"])
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise CheckpointError(f"{where}: cannot resume from it ({error_line(error)})") from error
