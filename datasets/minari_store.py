"""Where Minari datasets live: the user's local store and the datasets bundled with the project."""

import os
import warnings
from pathlib import Path

import minari
from minari.storage import get_dataset_path

from datasets.errors import DatasetError
from infra.environment import environment_variables

# A Minari store (same folder layout as ~/.minari/datasets) inside the project.
BUNDLED_ROOT = Path(__file__).resolve().parent / "bundled"
HDF5_FILE_NAME = "main_data.hdf5"  # Minari's name for the data file of an hdf5 dataset


def local_root() -> Path:
    """The local Minari store: MINARI_DATASETS_PATH, else ~/.minari/datasets (Minari's rule),
    made when missing; DatasetError when it is not a folder or cannot be made."""
    try:
        # Absolute: a relative MINARI_DATASETS_PATH would be joined to the paths Minari makes
        # from it (a dataset's files staged under the store twice over).
        return Path(get_dataset_path()).resolve()
    except OSError as error:
        where = os.environ.get("MINARI_DATASETS_PATH") or "~/.minari/datasets"
        reason = "not a folder" if isinstance(error, FileExistsError) else error.strerror
        raise DatasetError(
            f"the Minari dataset store {where} (MINARI_DATASETS_PATH) cannot be used: {reason}"
        ) from None


def minari_root(root: Path):
    """Point Minari's own functions at another store for the duration of a `with` block
    (Minari reads MINARI_DATASETS_PATH on every call)."""
    return environment_variables({"MINARI_DATASETS_PATH": str(root)})


def dataset_ids(root: Path) -> list[str]:
    """Ids of the datasets in a store, as Minari lists them."""
    if not root.is_dir():
        return []
    with minari_root(root), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a misconfigured dataset is simply not listed
        return list(minari.list_local_datasets())
