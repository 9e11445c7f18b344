"""Behaviour policies in the `gaussian-mlp/1` format: an MLP with a Gaussian action head,
stored as an .npz of plain arrays (format described in the policies folder's README)."""

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from datasets.errors import DatasetError

POLICY_FORMAT = "gaussian-mlp/1"
ACTIVATIONS = {"relu": lambda x: np.maximum(x, 0.0), "tanh": np.tanh}
SQUASHES = {"tanh": np.tanh, "clip": lambda u: np.clip(u, -1.0, 1.0)}
LOG_STD_RANGE = (-20.0, 2.0)  # clamp of a state-dependent log std, as in the format


@dataclass(frozen=True)
class GaussianMLPPolicy:
    """a = squash(mean(x) [+ exp(log_std(x)) * noise]), x = clip((obs - shift) / scale)."""

    path: Path
    env_id: str
    activation: str
    squash: str
    obs_shift: np.ndarray  # (obs_dim,)
    obs_scale: np.ndarray  # (obs_dim,)
    obs_clip: float
    hidden: list[tuple[np.ndarray, np.ndarray]]  # [(W (out, in), b (out,)), ...]
    mean: tuple[np.ndarray, np.ndarray]  # W (act_dim, h), b (act_dim,)
    log_std: np.ndarray | tuple[np.ndarray, np.ndarray]  # (act_dim,) or state-dependent (W, b)

    @property
    def observation_dim(self) -> int:
        return self.obs_shift.shape[0]

    @property
    def action_dim(self) -> int:
        return self.mean[1].shape[0]

    def act(self, observations: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """(B, obs_dim) observations -> (B, act_dim) float32 actions in [-1, 1].
        Stochastic when `rng` is given (as D4RL collected its data), else the mean action."""
        x = (observations.astype(np.float32) - self.obs_shift) / self.obs_scale
        x = np.clip(x, -self.obs_clip, self.obs_clip)
        activation = ACTIVATIONS[self.activation]
        for weight, bias in self.hidden:
            x = activation(x @ weight.T + bias)  # (B, out)
        u = x @ self.mean[0].T + self.mean[1]  # (B, act_dim)
        if rng is not None:
            if isinstance(self.log_std, tuple):
                log_std = np.clip(x @ self.log_std[0].T + self.log_std[1], *LOG_STD_RANGE)
            else:
                log_std = self.log_std
            u = u + np.exp(log_std) * rng.standard_normal(u.shape, dtype=np.float32)
        return SQUASHES[self.squash](u).astype(np.float32)


def load_policy(path: str | Path) -> GaussianMLPPolicy:
    """Read and validate a `gaussian-mlp/1` file; DatasetError naming the file if it is not one.
    No code is executed: numpy.load with allow_pickle=False."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"policy file {path} not found")
    if not zipfile.is_zipfile(path):  # else numpy would try it as a pickle, and say so
        raise DatasetError(f"policy file {path} is not a .npz archive (a zip file of arrays)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except ValueError as error:  # object arrays need pickle, which is refused
        raise DatasetError(
            f"policy file {path} is refused: it holds object arrays (pickled Python objects),"
            " and rebuilding them could run code from the file"
        ) from error
    except (OSError, zipfile.BadZipFile, EOFError) as error:
        raise DatasetError(f"policy file {path} is not a readable .npz archive: {error}") from error
    try:
        return _parse(path, arrays)
    except _FormatError as error:
        raise DatasetError(f"policy file {path} is malformed: {error}") from error


class _FormatError(Exception):
    pass


def _parse(path: Path, arrays: dict[str, np.ndarray]) -> GaussianMLPPolicy:
    def text(key: str, allowed) -> str:
        value = arrays.get(key)
        if value is None or value.dtype.kind != "U" or value.size != 1:
            raise _FormatError(f"'{key}' must be a string")
        value = str(value.reshape(()))
        if allowed is not None and value not in allowed:
            raise _FormatError(f"'{key}' is {value!r}, expected one of {sorted(allowed)}")
        return value

    def matrix(key: str, shape: tuple) -> np.ndarray:
        value = arrays.get(key)
        if value is None:
            raise _FormatError(f"missing array '{key}'")
        if value.dtype.kind != "f" or value.shape != shape:
            raise _FormatError(f"'{key}' is {value.dtype} {value.shape}, expected float {shape}")
        if not np.all(np.isfinite(value)):
            raise _FormatError(f"'{key}' contains NaN or inf")
        return value.astype(np.float32)

    text("format", {POLICY_FORMAT})
    shift = arrays.get("obs_shift")
    if shift is None or shift.ndim != 1:
        raise _FormatError("'obs_shift' must be a vector")
    width = shift.shape[0]
    obs_shift, obs_scale = matrix("obs_shift", (width,)), matrix("obs_scale", (width,))
    if np.any(obs_scale == 0):
        raise _FormatError("'obs_scale' contains zeros")
    obs_clip = arrays.get("obs_clip")
    if obs_clip is None or obs_clip.dtype.kind != "f" or obs_clip.size != 1:
        raise _FormatError("'obs_clip' must be one number")
    hidden = []
    while f"hidden_w{len(hidden)}" in arrays:
        i = len(hidden)
        out = arrays[f"hidden_w{i}"].shape[0]
        hidden.append((matrix(f"hidden_w{i}", (out, width)), matrix(f"hidden_b{i}", (out,))))
        width = out
    mean_weight = arrays.get("mean_w")
    if mean_weight is None or mean_weight.ndim != 2:
        raise _FormatError("'mean_w' must be a matrix")
    act_dim = mean_weight.shape[0]
    mean = (matrix("mean_w", (act_dim, width)), matrix("mean_b", (act_dim,)))
    if "log_std" in arrays:
        log_std = matrix("log_std", (act_dim,))
    else:
        log_std = (matrix("log_std_w", (act_dim, width)), matrix("log_std_b", (act_dim,)))
    return GaussianMLPPolicy(
        path=path,
        env_id=text("env", None),
        activation=text("activation", ACTIVATIONS),
        squash=text("squash", SQUASHES),
        obs_shift=obs_shift,
        obs_scale=obs_scale,
        obs_clip=float(obs_clip.reshape(())),
        hidden=hidden,
        mean=mean,
        log_std=log_std,
    )
