"""Small random behaviour policies in the gaussian-mlp/1 format, written as policy files."""

from pathlib import Path

import numpy as np


def policy_arrays(observation_dim=11, action_dim=3, hidden=8, env="Hopper-v5", seed=0) -> dict:
    """A small random policy in the gaussian-mlp/1 format."""
    rng = np.random.default_rng(seed)
    return {
        "format": np.array("gaussian-mlp/1"),
        "env": np.array(env),
        "activation": np.array("tanh"),
        "squash": np.array("clip"),
        "obs_shift": np.zeros(observation_dim, np.float32),
        "obs_scale": np.ones(observation_dim, np.float32),
        "obs_clip": np.array(10.0, np.float32),
        "hidden_w0": rng.normal(0, 0.3, (hidden, observation_dim)).astype(np.float32),
        "hidden_b0": np.zeros(hidden, np.float32),
        "mean_w": rng.normal(0, 0.3, (action_dim, hidden)).astype(np.float32),
        "mean_b": np.zeros(action_dim, np.float32),
        "log_std": np.full(action_dim, -1.0, np.float32),
    }


def write_policy(folder: Path, name: str, arrays: dict) -> Path:
    """`arrays` as the policy file `folder/name.npz`; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / f"{name}.npz", **arrays)
    return folder / f"{name}.npz"
