"""The models a checkpoint holds: payload["model"] = {"spec": ..., "state_dict": ...} written
from a model, and rebuilt into one (its spec names the backbone and every field; the state dict
holds the observation statistics as buffers). Reading and writing the file itself is
infra.checkpoint_files; this module only turns its plain values into models.
"""

from pathlib import Path

import torch

from infra.checkpoint_files import CheckpointError
from infra.error_text import error_line

from .decision_model import DecisionModel


def model_payload(model: DecisionModel) -> dict:
    return {"spec": model.spec(), "state_dict": model.state_dict()}


def load_model(
    payload: dict, device: str | torch.device = "cpu", source: str | Path = "checkpoint"
) -> DecisionModel:
    """The decision model a checkpoint holds, on `device`, in eval mode. `source` names the
    checkpoint in errors (its path, where known). A checkpoint of several members (seeds
    trained in one process) holds several models: `load_models`."""
    if "members" in payload:
        raise CheckpointError(
            f"{source}: holds {len(payload['members']['seeds'])} members (seeds trained "
            "together); load them with load_models"
        )
    return load_models(payload, device, source)[0][1]


def load_models(
    payload: dict, device: str | torch.device = "cpu", source: str | Path = "checkpoint"
) -> list[tuple[int | None, DecisionModel]]:
    """Every model a checkpoint holds with its training seed: one per member of a run that
    trained several seeds in one process (its weights are stacked, member first), else the one
    model with seed None (the seed is then in the run's config)."""
    try:
        spec = payload["model"]["spec"]
        state_dict = payload["model"]["state_dict"]
        seeds = payload["members"]["seeds"] if "members" in payload else [None]
        DecisionModel.from_spec(spec)  # an unusable description fails here, with its reason
    except (KeyError, TypeError, ValueError) as error:
        reason = error_line(error)
        raise CheckpointError(f"{source}: unusable model description: {reason}") from error
    models = []
    for index, seed in enumerate(seeds):
        weights = state_dict if "members" not in payload else _member_weights(state_dict, index)
        models.append((seed, _model_with(spec, weights, source).to(device).eval()))
    return models


def _member_weights(stacked, index: int):
    if not isinstance(stacked, dict):
        return stacked  # reported by _model_with
    return {name: tensor[index] for name, tensor in stacked.items()}  # (N, ...) -> (...)


def _model_with(spec: dict, state_dict, source) -> DecisionModel:
    model = DecisionModel.from_spec(spec)
    mismatch = weights_mismatch(model.state_dict(), state_dict)
    if mismatch:
        raise CheckpointError(
            f"{source}: its weights do not match its model description ({mismatch})"
        )
    model.load_state_dict(state_dict)
    return model


def weights_mismatch(expected: dict, given) -> str:
    """What differs between the model's own state dict and a checkpoint's, in one phrase
    (empty when they match); torch's own error spans several lines."""
    if not isinstance(given, dict):
        return f"the weights are a {type(given).__name__}, not a dict of tensors"
    missing = [name for name in expected if name not in given]
    unexpected = [name for name in given if name not in expected]
    resized = [
        f"{name} {tuple(getattr(given[name], 'shape', ()))} instead of {tuple(tensor.shape)}"
        for name, tensor in expected.items()
        if name in given and getattr(given[name], "shape", None) != tensor.shape
    ]
    parts = [("missing", missing), ("unexpected", unexpected), ("size mismatch", resized)]
    return "; ".join(f"{label}: {_listed(names)}" for label, names in parts if names)


def _listed(names: list[str], shown: int = 4) -> str:
    # A checkpoint of another architecture differs in dozens of names: the first few tell.
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more
