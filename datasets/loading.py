"""Loading a Minari dataset by id into an OfflineDataset."""

import minari
import numpy as np

from datasets.d4rl_names import d4rl_env_level, d4rl_file_name
from datasets.errors import DatasetError
from datasets.minari_store import BUNDLED_ROOT, HDF5_FILE_NAME, dataset_ids, local_root
from datasets.offline_dataset import OfflineDataset
from envs.make import is_memory_env
from infra.error_text import error_line

BUILD_HINT = "python -m datasets.build --env hopper --level medium --policies-dir DIR"


def load_dataset(dataset_id: str) -> OfflineDataset:
    """Load `dataset_id` from the local Minari store, else from the bundled datasets.

    Raises DatasetError (one line) for a missing id, an unreadable data file, a dataset without
    episodes or env spec, an empty episode, non-finite values, or arrays that do not match the
    env's spaces."""
    source = _open(dataset_id)
    if source.total_episodes == 0:
        raise DatasetError(f"dataset {dataset_id!r} has no episodes")
    if source.spec.env_spec is None:
        raise DatasetError(f"dataset {dataset_id!r} has no environment spec in its metadata")
    observation_shape = source.observation_space.shape
    action_shape = source.action_space.shape
    observations, actions, rewards = [], [], []
    for episode in _read_episodes(source, dataset_id):
        where = f"dataset {dataset_id!r} episode {episode.id}"
        length = len(episode.rewards)
        if length == 0:
            raise DatasetError(f"{where} has length 0")
        _check_array(episode.observations, (length + 1, *observation_shape), "observations", where)
        _check_array(episode.actions, (length, *action_shape), "actions", where)
        _check_array(episode.rewards, (length,), "rewards", where)
        observations.append(episode.observations[:-1])  # drop the observation after the last step
        actions.append(episode.actions)
        rewards.append(episode.rewards)
    metadata = source.storage.metadata
    return OfflineDataset.from_episodes(
        dataset_id,
        source.spec.env_spec.id,
        observations,
        actions,
        rewards,
        ref_min_score=_optional_float(metadata.get("ref_min_score")),
        ref_max_score=_optional_float(metadata.get("ref_max_score")),
        env_kwargs=_env_kwargs(source.spec.env_spec),
    )


def _open(dataset_id: str) -> minari.MinariDataset:
    local, bundled = local_root() / dataset_id, BUNDLED_ROOT / dataset_id
    try:
        if (local / "data").is_dir():
            return minari.load_dataset(dataset_id)
        if (bundled / "data").is_dir():
            return minari.MinariDataset(bundled / "data")
    except (OSError, ValueError, KeyError, AssertionError) as error:
        where = local if (local / "data").is_dir() else bundled
        raise DatasetError(f"cannot read dataset {dataset_id!r} at {where}: {error}") from error
    known = sorted(set(dataset_ids(local_root())) | set(dataset_ids(BUNDLED_ROOT)))
    hint = f"`minari download {dataset_id}` (needs network) or build one with `{BUILD_HINT}`"
    if (env_level := d4rl_env_level(dataset_id)) is not None:
        env, level = env_level
        hint = (
            f"`python -m datasets.import_d4rl {d4rl_file_name(env, level)} --env {env} "
            f"--level {level}` (from D4RL's own file)"
        )
    raise DatasetError(
        f"dataset {dataset_id!r} not found in {local_root()} (MINARI_DATASETS_PATH) nor in "
        f"{BUNDLED_ROOT}; available: {', '.join(known) or 'none'}; get it with {hint}"
    )


def _read_episodes(source: minari.MinariDataset, dataset_id: str) -> list:
    """All episodes of the dataset; a damaged data file is one DatasetError, not h5py's
    traceback (Minari opens the file only when episodes are read)."""
    try:
        return list(source.iterate_episodes())
    except (OSError, KeyError, ValueError, RuntimeError) as error:
        path = source.storage.data_path / HDF5_FILE_NAME
        raise DatasetError(
            f"dataset {dataset_id!r} at {path}: cannot read its data file (corrupted or "
            f"truncated?): {error_line(error)}"
        ) from error


def _check_array(values, shape: tuple, name: str, where: str) -> None:
    if not isinstance(values, np.ndarray):
        raise DatasetError(f"{where}: {name} are {type(values).__name__}, expected an array")
    if values.shape != shape:
        raise DatasetError(
            f"{where}: {name} have shape {values.shape}, expected {shape} (from the env's spaces)"
        )
    if not np.all(np.isfinite(values)):
        raise DatasetError(f"{where}: {name} contain NaN or inf")


def _env_kwargs(env_spec) -> dict:
    """The keywords a memory task's data were collected with ({"delay": D}); {} otherwise."""
    if not is_memory_env(env_spec.id):
        return {}
    return {key: value for key, value in (env_spec.kwargs or {}).items() if key == "delay"}


def _optional_float(value) -> float | None:
    return None if value is None else float(value)
