"""Reading a D4RL file (HDF5, D4RL's layout) and checking it against the environment it is for.

D4RL's layout: one row per step, episodes one after the other.
    observations (N, obs_dim)   actions (N, act_dim)   rewards (N,) or (N, 1)
    terminals (N,)   timeouts (N,)   next_observations (N, obs_dim), in D4RL's -v2 files
    infos/qpos (N, nq)   infos/qvel (N, nv): the simulator state each observation was made from
"""

import hashlib
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from datasets.errors import DatasetError
from infra.error_text import error_line

REQUIRED_KEYS = ("observations", "actions", "rewards", "terminals", "timeouts")
NEXT_OBSERVATIONS = "next_observations"
STATE_KEYS = ("infos/qpos", "infos/qvel")


@dataclass(frozen=True)
class D4RLArrays:
    """A D4RL file's steps, as float32 (bool for the flags)."""

    observations: np.ndarray  # (N, obs_dim) float32
    actions: np.ndarray  # (N, act_dim) float32
    rewards: np.ndarray  # (N,) float32
    terminals: np.ndarray  # (N,) bool
    timeouts: np.ndarray  # (N,) bool
    next_observations: np.ndarray | None  # (N, obs_dim) float32; None when the file has none
    qpos: np.ndarray | None  # (N, nq) float64; read only when next_observations are absent
    qvel: np.ndarray | None  # (N, nv) float64; likewise
    float64_keys: tuple[str, ...]  # the arrays above the file stores as float64

    @property
    def num_steps(self) -> int:
        return len(self.rewards)


def read_d4rl_file(path: Path, observation_dim: int, action_dim: int, env_label: str) -> D4RLArrays:
    """Read and check every array of a D4RL file. Raises DatasetError, one line naming the file:
    not an HDF5 file, a missing key, arrays of different lengths, widths other than the env's
    (`env_label` names it in the message), or values that are not finite."""
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    if not h5py.is_hdf5(path):
        raise DatasetError(f"{path}: not an HDF5 file")
    try:
        with h5py.File(path, "r") as file:
            return _read(file, path, observation_dim, action_dim, env_label)
    except OSError as error:  # a truncated or damaged file
        raise DatasetError(f"{path}: cannot read it: {error_line(error)}") from error


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(1 << 24):
            digest.update(chunk)
    return digest.hexdigest()


def _read(
    file: h5py.File, path: Path, observation_dim: int, action_dim: int, env_label: str
) -> D4RLArrays:
    has_next = _has_array(file, NEXT_OBSERVATIONS)
    needed = REQUIRED_KEYS + (() if has_next else STATE_KEYS)
    for key in needed:
        if not _has_array(file, key):
            why = "" if key in REQUIRED_KEYS else " (needed without next_observations)"
            raise DatasetError(
                f"{path}: no {key!r} array{why}; D4RL files hold {', '.join(needed)}"
            )
    keys = needed + ((NEXT_OBSERVATIONS,) if has_next else ())
    lengths = {key: file[key].shape[0] if file[key].ndim else 0 for key in keys}
    if len(set(lengths.values())) != 1:
        listed = ", ".join(f"{key} {length}" for key, length in lengths.items())
        raise DatasetError(f"{path}: arrays of different lengths: {listed}")
    if lengths["rewards"] == 0:
        raise DatasetError(f"{path}: no steps")

    widths = {"observations": observation_dim, "actions": action_dim}
    if has_next:
        widths[NEXT_OBSERVATIONS] = observation_dim
    for key, width in widths.items():
        shape = file[key].shape
        if shape[1:] != (width,):
            raise DatasetError(f"{path}: {key} have shape {shape}; {env_label} needs (N, {width})")
    stored = ("observations", "actions", "rewards") + ((NEXT_OBSERVATIONS,) if has_next else ())
    float64_keys = tuple(key for key in stored if file[key].dtype == np.float64)
    floats = {key: _floats(file, key, path) for key in stored}
    return D4RLArrays(
        observations=floats["observations"],
        actions=floats["actions"],
        rewards=_per_step(floats["rewards"], "rewards", path),
        terminals=_per_step(file["terminals"][()], "terminals", path).astype(bool),
        timeouts=_per_step(file["timeouts"][()], "timeouts", path).astype(bool),
        next_observations=floats.get(NEXT_OBSERVATIONS),
        qpos=None if has_next else file["infos/qpos"][()].astype(np.float64),
        qvel=None if has_next else file["infos/qvel"][()].astype(np.float64),
        float64_keys=float64_keys,
    )


def _has_array(file: h5py.File, key: str) -> bool:
    return isinstance(file.get(key), h5py.Dataset)


def _floats(file: h5py.File, key: str, path: Path) -> np.ndarray:
    """The array as float32 (D4RL's float64 files too), refused if any value is NaN or inf."""
    values = np.asarray(file[key][()], dtype=np.float32)
    finite = np.isfinite(values).reshape(len(values), -1).all(axis=1)  # (N,) one flag per step
    if not finite.all():
        raise DatasetError(f"{path}: {key} at step {np.argmin(finite)} are not finite")
    return values


def _per_step(values: np.ndarray, key: str, path: Path) -> np.ndarray:
    """(N,) or (N, 1) -> (N,)."""
    if values.ndim == 2 and values.shape[1] == 1:
        return values[:, 0]  # (N, 1) -> (N,)
    if values.ndim != 1:
        raise DatasetError(f"{path}: {key} have shape {values.shape}; expected (N,) or (N, 1)")
    return values
