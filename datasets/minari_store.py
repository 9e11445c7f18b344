"""Where Minari datasets live: the user's local store and the datasets bundled with the project."""

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import minari
from minari.storage import get_dataset_path

# A Minari store (same folder layout as ~/.minari/datasets) inside the project.
BUNDLED_ROOT = Path(__file__).resolve().parent / "bundled"
HDF5_FILE_NAME = "main_data.hdf5"  # Minari's name for the data file of an hdf5 dataset


def local_root() -> Path:
    """The local Minari store: MINARI_DATASETS_PATH, else ~/.minari/datasets (Minari's rule)."""
    return get_dataset_path()


@contextmanager
def minari_root(root: Path) -> Iterator[None]:
    """Point Minari's own functions at another store for the duration of the block
    (Minari reads MINARI_DATASETS_PATH on every call)."""
    previous = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(root)
    try:
        yield
    finally:
        if previous is None:
            del os.environ["MINARI_DATASETS_PATH"]
        else:
            os.environ["MINARI_DATASETS_PATH"] = previous


def dataset_ids(root: Path) -> list[str]:
    """Ids of the datasets in a store, as Minari lists them."""
    if not root.is_dir():
        return []
    with minari_root(root), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a misconfigured dataset is simply not listed
        return list(minari.list_local_datasets())
