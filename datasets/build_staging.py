"""Where a build writes before its dataset is complete: a hidden staging folder in the store.

Each dataset id has a lock file in the store, held for the whole build, so that two builds of
one id cannot run at once; its staging folder is `.build-<id>`. A build killed midway leaves its
staging folder behind, and the next build into the store removes every staging folder whose
lock it can take (a live build holds its own). Minari lists neither: it skips hidden folders
and plain files.
"""

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from datasets.errors import DatasetError
from infra.locks import LockError, acquire_lock

STAGING_PREFIX = ".build-"


def dataset_lock_path(root: Path, dataset_id: str) -> Path:
    return root / f".{_flat(dataset_id)}.lock"


@contextmanager
def staging_folder(root: Path, dataset_id: str) -> Iterator[Path]:
    """Hold `dataset_id`'s lock in `root` and yield its empty staging folder (removed on exit).
    Raises DatasetError when another process is building the same id."""
    root.mkdir(parents=True, exist_ok=True)
    try:
        lock = acquire_lock(dataset_lock_path(root, dataset_id), f"dataset {dataset_id!r}")
    except LockError as error:
        raise DatasetError(str(error)) from None
    with lock:
        remove_abandoned_staging(root)
        staging = root / f"{STAGING_PREFIX}{_flat(dataset_id)}"
        shutil.rmtree(staging, ignore_errors=True)  # our own id's, from a killed build
        staging.mkdir()
        try:
            yield staging
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def remove_abandoned_staging(root: Path) -> None:
    """Remove the staging folders in `root` that no live build holds."""
    for folder in root.glob(f"{STAGING_PREFIX}*"):
        if not folder.is_dir():
            continue
        lock_path = root / f".{folder.name.removeprefix(STAGING_PREFIX)}.lock"
        try:
            # Taking the lock, rather than asking whether it is held, keeps a build from
            # starting on this folder while it is being removed.
            with acquire_lock(lock_path, f"staging folder {folder}"):
                shutil.rmtree(folder, ignore_errors=True)
        except LockError:
            continue  # a live build's, or our own


def _flat(dataset_id: str) -> str:
    return dataset_id.replace("/", "-")
