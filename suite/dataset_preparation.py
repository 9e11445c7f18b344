"""Making sure every dataset of a suite exists before any run starts: a Minari id found in the
local store or among the bundled datasets is used as it is; a missing `replica/<env>/<level>-v0`
is built with datasets.build (the same builder as `python -m datasets.build`), and a missing
`d4rl/<env>/<level>-v2` is imported from D4RL's file of that name in --d4rl-dir (as
`python -m datasets.import_d4rl` does); a missing `memory/<task>-d<delay>/<level>-v0` is built
from the task's scripted controller."""

import sys
from pathlib import Path

from datasets import DatasetError
from datasets.build import build_dataset
from datasets.d4rl_names import d4rl_env_level, d4rl_file_name
from datasets.import_d4rl import import_d4rl
from datasets.minari_store import BUNDLED_ROOT, local_root
from datasets.recipe import LEVELS_FILE, level_names, memory_dataset_id
from datasets.scripted_reach import LEVELS as MEMORY_LEVELS
from envs.make import MEMORY_ENV_IDS
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


def memory_level(dataset_id: str) -> tuple[str, str, int] | None:
    """'memory/cue-reach-d30/mixed-v0' -> ('cue-reach', 'mixed', 30) for a memory task's level."""
    parts = dataset_id.split("/")
    if len(parts) != 3 or parts[0] != "memory" or not parts[2].endswith("-v0"):
        return None
    task, _, delay = parts[1].rpartition("-d")
    level = parts[2].removesuffix("-v0")
    if task not in MEMORY_ENV_IDS or level not in MEMORY_LEVELS or not delay.isdigit():
        return None
    if memory_dataset_id(task, int(delay), level) != dataset_id:  # e.g. a delay of 030
        return None
    return task, level, int(delay)


def d4rl_file(dataset_id: str, d4rl_dir: Path) -> Path:
    """The D4RL file `d4rl/<env>/<level>-v2` is imported from: D4RL's own file name."""
    return d4rl_dir / d4rl_file_name(*d4rl_env_level(dataset_id))


def missing_datasets(
    datasets: tuple[str, ...],
    policies_dir: Path | None,
    d4rl_dir: Path | None,
    suite_name: str,
) -> list[str]:
    """The datasets to build or import; raises UsageError for one that can be neither found nor
    made, naming the D4RL file (and the suite) that is missing."""
    missing = [dataset for dataset in datasets if not is_available(dataset)]
    d4rl = [dataset for dataset in missing if d4rl_env_level(dataset) is not None]
    if d4rl and d4rl_dir is None:
        names = ", ".join(d4rl_file_name(*d4rl_env_level(dataset)) for dataset in d4rl)
        raise UsageError(
            f"{len(d4rl)} dataset(s) must be imported: give --d4rl-dir, a folder holding D4RL's "
            f"{names}"
        )
    absent = [d4rl_file(dataset, d4rl_dir).name for dataset in d4rl]
    absent = [name for name in absent if not (d4rl_dir / name).is_file()]
    if absent:
        raise UsageError(
            f"{d4rl_dir} lacks {len(absent)} D4RL file(s) suite {suite_name!r} imports "
            f"datasets from (D4RL's own file names): {', '.join(absent)}"
        )
    for dataset in missing:
        if dataset in d4rl:
            continue
        if memory_level(dataset) is not None:
            continue  # built from a scripted controller: nothing to give
        if replica_level(dataset) is None:
            raise UsageError(
                f"unknown dataset {dataset!r}: not in {local_root()} nor bundled, and not a "
                f"replica level of {LEVELS_FILE} (get it with `minari download {dataset}`)"
            )
        if policies_dir is None and replica_level(dataset)[1] != "random":
            raise UsageError(f"dataset {dataset!r} must be built: give --policies-dir")
    return missing


def build_missing(
    missing: list[str], policies_dir: Path | None, steps: int | None, d4rl_dir: Path | None
) -> None:
    """Import the missing d4rl/* datasets from `d4rl_dir`; build the missing replicas."""
    for dataset in missing:
        try:
            if d4rl_env_level(dataset) is not None:
                imported = import_d4rl(d4rl_file(dataset, d4rl_dir), *d4rl_env_level(dataset))
                print(imported.summary(), file=sys.stderr)
            elif memory_level(dataset) is not None:
                task, level, delay = memory_level(dataset)
                build_dataset(task, level, None, steps=steps, seed=0, delay=delay)
            else:
                build_dataset(*replica_level(dataset), policies_dir, steps=steps, seed=0)
        except DatasetError as error:
            raise UsageError(str(error)) from None
