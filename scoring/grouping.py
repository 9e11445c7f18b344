"""Which runs are seeds of one experiment. Runs are aggregated only when they differ in their seed
alone: same model, same training settings, same number of steps trained. Runs that differ in
anything else form separate groups, each aggregated over its own seeds.

A record is one trained model: a run folder's checkpoint today; one member of a run folder that
trains several seeds in one process can be a record of its own (same checkpoint, its own seed).
"""

import json
from dataclasses import dataclass
from pathlib import Path

from infra.errors import UsageError
from training.config import ARGS_FIELDS, role_of

# The training settings that make runs different experiments (training.config.Role): a run's
# record holds those; the others (its seed, its budget, where and how often it logged,
# checkpointed or evaluated itself, where it ran) do not change what it learned. The steps
# actually trained are compared instead of the budget.
EXPERIMENT_SETTINGS = frozenset(
    name for name in ARGS_FIELDS if role_of(name).defines_experiment and name != "backbone"
)


@dataclass(frozen=True)
class SeedRecord:
    checkpoint: Path  # resolved: the same file given by two paths is one record
    settings: dict  # flat {name: value}: the model and the training settings that matter
    seed: int | None


@dataclass(frozen=True)
class RunGroup:
    label: str  # the backbone, and the settings in which this group differs from the others
    backbone: str
    differences: dict  # {setting: value} for the settings that differ between groups
    runs: tuple[int, ...]  # indices into the records


def seed_record(checkpoint: Path, payload: dict, seed: int | None) -> SeedRecord:
    """The record of a checkpoint written by train.py (`payload`), trained with `seed`."""
    spec = payload["model"]["spec"]
    settings = {"backbone": spec["backbone"]["type"]}
    settings |= {f"backbone.{name}": value for name, value in spec["backbone"]["params"].items()}
    settings |= spec["decision_model"]
    settings |= {
        name: value for name, value in payload["config"].items() if name in EXPERIMENT_SETTINGS
    }
    settings["trained_steps"] = payload["step"]
    return SeedRecord(checkpoint.resolve(), settings, seed)


def group_runs(records: list[SeedRecord]) -> list[RunGroup]:
    """Groups of records that differ only in their seed, in the order they were given.

    Raises UsageError for a record given twice, and for two records with the same settings and
    seed (not independent seeds: pooling them would shrink the interval for nothing)."""
    seen: dict[tuple[Path, int | None], int] = {}
    for index, record in enumerate(records):
        if (record.checkpoint, record.seed) in seen:
            raise UsageError(f"{record.checkpoint} is given twice")
        seen[record.checkpoint, record.seed] = index

    members: dict[str, list[int]] = {}
    for index, record in enumerate(records):
        key = json.dumps(record.settings, sort_keys=True, default=str)
        group = members.setdefault(key, [])
        for other in group:
            if records[other].seed == record.seed:
                raise UsageError(
                    f"{records[other].checkpoint} and {record.checkpoint} were trained with the "
                    f"same settings and seed {record.seed}: they are not independent seeds; "
                    "evaluate one of them"
                )
        group.append(index)

    first_settings = [records[indices[0]].settings for indices in members.values()]
    groups = []
    for settings, indices in zip(first_settings, members.values(), strict=True):
        # A backbone's own fields are compared only with groups of the same backbone.
        same_backbone = [s for s in first_settings if s["backbone"] == settings["backbone"]]
        differences = {
            name: settings[name]
            for name in settings
            if name != "backbone"
            and _differ(name, same_backbone if name.startswith("backbone.") else first_settings)
        }
        details = ", ".join(f"{name} {_text(value)}" for name, value in differences.items())
        label = settings["backbone"] + (f" ({details})" if details else "")
        groups.append(RunGroup(label, settings["backbone"], differences, tuple(indices)))
    return groups


def _differ(name: str, settings: list[dict]) -> bool:
    return len({_text(s.get(name)) for s in settings}) > 1


def _text(value) -> str:
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)
