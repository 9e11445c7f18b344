"""Writing episodes as a Minari dataset: into a staging store first (datasets/build_staging.py),
then moved into the real store once complete. The builder and the D4RL importer both write here.
"""

import os
import shutil
import warnings
from pathlib import Path

import h5py
import minari

from datasets.collect import Episode
from datasets.errors import DatasetError
from datasets.minari_store import HDF5_FILE_NAME, minari_root
from envs.make import make_env
from envs.normalization import D4RL_REFERENCE_RETURNS


def check_dataset_id(dataset_id: str) -> None:
    try:
        minari.dataset.minari_dataset.parse_dataset_id(dataset_id)
    except (ValueError, AssertionError) as error:
        raise DatasetError(f"invalid dataset id {dataset_id!r}: {error}") from error


def write_dataset(
    staging: Path,
    dataset_id: str,
    env_id: str,
    episodes: list[Episode],
    *,
    algorithm_name: str,
    author: str,
    description: str,
    references: tuple[float, float] | None = None,
    env_kwargs: dict | None = None,
) -> None:
    """Write `episodes` as the Minari dataset `dataset_id` of `env_id` (made with `env_kwargs`)
    into the store at `staging`, with `references` (ref_min_score, ref_max_score), by default
    D4RL's of `env_id`, every array stored contiguously."""
    ref_min_score, ref_max_score = references or D4RL_REFERENCE_RETURNS[env_id]
    buffers = [
        minari.data_collector.EpisodeBuffer(
            id=index,
            observations=episode.observations,
            actions=episode.actions,
            rewards=episode.rewards,
            terminations=episode.terminations,
            truncations=episode.truncations,
        )
        for index, episode in enumerate(episodes)
    ]
    env = make_env(
        env_id, **(env_kwargs or {})
    )  # Minari takes its spec and spaces; made here, quietly, for v4 too
    with minari_root(staging), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(is set to None|env_spec).*")
        dataset = minari.create_dataset_from_buffers(
            dataset_id,
            buffers,
            env=env,
            algorithm_name=algorithm_name,
            author=author,
            ref_min_score=ref_min_score,
            ref_max_score=ref_max_score,
            description=description,
        )
    env.close()
    _store_contiguously(dataset)


def _store_contiguously(dataset: minari.MinariDataset) -> None:
    """Rewrite Minari's HDF5 file with every array stored contiguously. Minari writes resizable
    chunked arrays (so that episodes can grow), each with ~2.8 KB of chunk index: more than the
    data of a short episode. A finished dataset does not grow, and h5py reads either layout."""
    path = dataset.storage.data_path / HDF5_FILE_NAME
    compact = path.with_suffix(".compact")
    with h5py.File(path, "r") as source, h5py.File(compact, "w", track_order=True) as target:
        target.attrs.update(source.attrs)
        for name, episode in source.items():
            group = target.create_group(name, track_order=True)
            group.attrs.update(episode.attrs)
            for key, array in episode.items():  # flat: no dicts or infos are written
                group.create_dataset(key, data=array[()])
    os.replace(compact, path)
    dataset.storage.update_metadata({"dataset_size": float(dataset.storage.get_size())})


def move_into_place(staging: Path, root: Path, dataset_id: str, overwrite: bool = False) -> None:
    """Move the finished dataset from `staging` into `root`, with its namespaces' metadata."""
    destination = root / dataset_id
    destination.parent.mkdir(parents=True, exist_ok=True)
    for metadata in staging.rglob("namespace_metadata.json"):
        target = root / metadata.relative_to(staging)
        if not target.exists():
            shutil.copyfile(metadata, target)
    if overwrite and destination.exists():
        destination.rename(staging / "replaced")  # removed with the staging folder
    (staging / dataset_id).rename(destination)
