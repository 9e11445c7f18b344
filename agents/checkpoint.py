"""Checkpoints: written atomically, loaded without executing code.

A checkpoint is a dict of tensors, numbers, strings, lists and dicts only, so that
`torch.load(..., weights_only=True)` reads it. payload["model"] = {"spec": ..., "state_dict": ...}
rebuilds the decision model (its spec names the backbone and every field; the state dict holds
the observation statistics as buffers).
"""

from pathlib import Path

import torch

from .atomic_file import atomic_write
from .decision_model import DecisionModel


class CheckpointError(Exception):
    """A checkpoint that is missing, unreadable or not one of ours (one-line message)."""


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def save_checkpoint(path: str | Path, payload: dict) -> None:
    """Written atomically: a crash mid-write leaves the previous checkpoint in place."""
    with atomic_write(path) as file:
        torch.save(payload, file)


def load_checkpoint(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for truncated or foreign files
        reason = _first_line(error)
        raise CheckpointError(
            f"{path}: unreadable checkpoint (corrupted or truncated?): {reason}"
        ) from error
    if not isinstance(payload, dict) or "model" not in payload:
        raise CheckpointError(f"{path}: not a checkpoint of this toolkit (no 'model' entry)")
    return payload


def model_payload(model: DecisionModel) -> dict:
    return {"spec": model.spec(), "state_dict": model.state_dict()}


def load_model(payload: dict, device: str | torch.device = "cpu") -> DecisionModel:
    """The decision model a checkpoint holds, on `device`, in eval mode."""
    try:
        model = DecisionModel.from_spec(payload["model"]["spec"])
        model.load_state_dict(payload["model"]["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise CheckpointError(
            f"checkpoint does not match its model description: {_first_line(error)}"
        ) from error
    return model.to(device).eval()
