"""An evaluation's results as types: each run at each target return, each group of runs that
differ only in their seed, and the report evaluate.py writes as JSON (with a schema version).

Version 2 (this one) gives every summary in one form, scoring.statistics.ScoreSummary. Version 1
files (written before the version was recorded) are read too: `EvaluationReport.from_json`."""

import dataclasses
from dataclasses import dataclass

from infra.field_types import from_plain
from scoring.published_scores import PublishedScore
from scoring.statistics import ScoreSummary, over_episodes, summarize

SCHEMA_VERSION = 2


@dataclass(frozen=True)
class TargetResult:
    """One run's episodes at one target return."""

    target_return: float
    returns: tuple[float, ...]
    lengths: tuple[int, ...]
    normalized_scores: tuple[float, ...]
    summary: ScoreSummary
    """Over the episodes."""
    successes: tuple[bool, ...] | None = None
    """Memory tasks: whether each episode succeeded (the env's final info["is_success"])."""
    success_rate: float | None = None
    """Memory tasks: the share of successful episodes, in [0, 1]; None where undefined."""
    videos: tuple[str, ...] = ()
    """MP4s of the first episode of the first envs (evaluate.py --video)."""


@dataclass(frozen=True)
class RunEvaluation:
    """One trained model (a run folder's, or one member of a run of several seeds)."""

    checkpoint: str
    step: int
    backbone: str
    training_seed: int | None
    group: int
    """Index into the report's groups."""
    env_seeds: tuple[int, ...]
    results: tuple[TargetResult, ...]
    """One per target return, in the report's order."""


@dataclass(frozen=True)
class TargetSummary:
    target_return: float
    summary: ScoreSummary
    success_rate: ScoreSummary | None = None
    """Memory tasks: the success rate (in [0, 1]) summarised as the score is."""


@dataclass(frozen=True)
class GroupSummary:
    """Runs that differ only in their seed, aggregated."""

    label: str
    backbone: str
    differences: dict
    """{setting: value} of the settings in which this group differs from the others."""
    runs: tuple[int, ...]
    """Indices into the report's runs."""
    targets: tuple[TargetSummary, ...]


@dataclass(frozen=True)
class Normalization:
    ref_min: float
    ref_max: float
    source: str
    """"dataset" (its own reference returns) or "d4rl" (D4RL's constants)."""
    note: str


@dataclass(frozen=True)
class DatasetScore:
    """The training data's mean episode (of the behaviour policies), normalised as the runs."""

    mean_episode_return: float
    normalized_score: float


@dataclass(frozen=True)
class EvaluationReport:
    dataset: str
    d4rl_counterpart: str | None
    replica: bool
    env_id: str
    """The environment the runs were rolled out in."""
    env_kwargs: dict
    """The keywords it was made with: a memory task's {"delay": D} ({} for locomotion)."""
    trained_env_kwargs: dict
    """Those of the training data's env (another delay than env_kwargs: length generalisation)."""
    gymnasium_version: str
    mujoco_version: str
    backbones: tuple[str, ...]
    mode: str
    episodes: int
    seed: int | None
    """Env i is reset with seed + i; None: with each run's own training seed + i."""
    normalization: Normalization
    dataset_score: DatasetScore | None
    groups: tuple[GroupSummary, ...]
    runs: tuple[RunEvaluation, ...]
    published: tuple[PublishedScore, ...]

    @property
    def target_returns(self) -> tuple[float, ...]:
        return tuple(result.target_return for result in self.runs[0].results)

    def to_json(self) -> dict:
        return {"schema_version": SCHEMA_VERSION, **dataclasses.asdict(self)}

    @classmethod
    def from_json(cls, data: dict) -> "EvaluationReport":
        """A report read back from its JSON, of this version or version 1."""
        version = data.get("schema_version", 1)
        if version == 1:
            data = _version_1_upgraded(data)
        elif version != SCHEMA_VERSION:
            raise ValueError(f"evaluation schema version {version} is newer than this toolkit's")
        fields = {field.name for field in dataclasses.fields(cls)}
        data = {"env_kwargs": {}, "trained_env_kwargs": {}} | data  # before memory tasks
        return from_plain(cls, {key: value for key, value in data.items() if key in fields})


def _version_1_upgraded(data: dict) -> dict:
    """Version 1's runs and groups in version 2's form: their summaries ({normalized_score_mean,
    normalized_score_std, ci95}, with no count or method) recomputed from the episodes it holds."""

    def scores(run: int, target: int) -> list[float]:
        return data["runs"][run]["results"][target]["normalized_scores"]

    runs = [
        {
            **{key: run[key] for key in ("checkpoint", "step", "backbone", "training_seed")},
            **{key: run[key] for key in ("group", "env_seeds")},
            "results": [
                {
                    **{key: result[key] for key in ("target_return", "returns", "lengths")},
                    "normalized_scores": scores(number, index),
                    "summary": dataclasses.asdict(over_episodes(scores(number, index))),
                }
                for index, result in enumerate(run["results"])
            ],
        }
        for number, run in enumerate(data["runs"])
    ]
    groups = [
        {
            **{key: group[key] for key in ("label", "backbone", "differences", "runs")},
            "targets": [
                {
                    "target_return": target["target_return"],
                    "summary": dataclasses.asdict(
                        summarize([scores(run, index) for run in group["runs"]])
                    ),
                }
                for index, target in enumerate(group["targets"])
            ],
        }
        for group in data["groups"]
    ]
    return {**data, "runs": runs, "groups": groups}
