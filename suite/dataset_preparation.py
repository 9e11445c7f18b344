"""Making sure every dataset of a suite exists before any run starts: a Minari id found in the
local store or among the bundled datasets is used as it is; a missing `replica/<env>/<level>-v0`
is built with datasets.build (the same builder as `python -m datasets.build`)."""

from pathlib import Path

from datasets import DatasetError
from datasets.build import build_dataset
from datasets.minari_store import BUNDLED_ROOT, local_root
from datasets.recipe import LEVELS_FILE, level_names
from infra.errors import UsageError


def is_available(dataset_id: str) -> bool:
    # The same two places datasets.load_dataset looks in.
    return any((root / dataset_id / "data").is_dir() for root in (local_root(), BUNDLED_ROOT))


def replica_level(dataset_id: str) -> tuple[str, str] | None:
    """'replica/hopper/medium-v0' -> ('hopper', 'medium') when levels.json has that recipe."""
    parts = dataset_id.split("/")
    if len(parts) != 3 or parts[0] != "replica" or not parts[2].endswith("-v0"):
        return None
    env, level = parts[1], parts[2].removesuffix("-v0")
    return (env, level) if level in level_names(env) else None


def missing_datasets(datasets: tuple[str, ...], policies_dir: Path | None) -> list[str]:
    """The datasets to build; raises UsageError for one that can be neither found nor built."""
    missing = [dataset for dataset in datasets if not is_available(dataset)]
    for dataset in missing:
        if replica_level(dataset) is None:
            raise UsageError(
                f"unknown dataset {dataset!r}: not in {local_root()} nor bundled, and not a "
                f"replica level of {LEVELS_FILE} (get it with `minari download {dataset}`)"
            )
        if policies_dir is None and replica_level(dataset)[1] != "random":
            raise UsageError(f"dataset {dataset!r} must be built: give --policies-dir")
    return missing


def build_missing(missing: list[str], policies_dir: Path | None, steps: int | None) -> None:
    for dataset in missing:
        env, level = replica_level(dataset)
        try:
            build_dataset(env, level, policies_dir, steps=steps, seed=0)
        except DatasetError as error:
            raise UsageError(str(error)) from None
