"""A suite: datasets × backbones × seeds with shared training and evaluation settings; its presets
and suite files (TOML), command-line overrides, checks, and the training Args of each run.

Presets live in suite/presets.toml, in the same format as a user's own suite file: suites are data,
and loading one never executes code (tomllib)."""

import contextlib
import dataclasses
import sys
import typing
from dataclasses import field
from pathlib import Path

from agents import BACKBONES, backbone_config
from envs.evaluation import Mode
from infra.errors import ConfigError, UsageError
from infra.field_types import check_field_types, field_docstrings
from training import Args, validate
from training.config import ARGS_FIELDS, flag

if sys.version_info >= (3, 11):
    import tomllib
else:  # tomllib joined the standard library in 3.11; tomli is the same parser
    import tomli as tomllib

PRESETS_FILE = Path(__file__).resolve().parent / "presets.toml"
ALL_BACKBONES = "all"
# A row "<backbone>@<variant>" is the backbone trained with settings of its own: its overrides may
# hold train.py's settings too (e.g. transformer@K20 = {context_length = 20}).
VARIANT_MARK = "@"
# Settings a later run of the same results folder may extend (an addition, not a change).
EXTENDABLE = ("datasets", "backbones", "seeds")
# Keys of results folders written before the suite took train.py's names: the final
# evaluation's episodes were `eval_episodes`, the periodic evaluation's `periodic_eval_episodes`.
RENAMED_KEYS = {"eval_episodes": "final_eval_episodes", "periodic_eval_episodes": "eval_episodes"}


def _setting(default, help: str):
    # The help text lives in the field's metadata, so that the command-line flags generated from
    # these fields (benchmark.py) carry it to --help.
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


class SuiteMethods:
    """What a suite knows beyond its settings: its runs, their folders and their training Args."""

    def runs(self) -> list[tuple[str, str, int]]:
        """(dataset, backbone, seed) of every trained model, in a stable order."""
        return [(d, b, s) for d in self.datasets for b in self.backbones for s in self.seeds]

    def units(self) -> list[tuple[str, str, tuple[int, ...]]]:
        """(dataset, backbone, seeds) of every run folder: one per seed, or, with seeds_together,
        one per dataset × backbone holding every seed as a member."""
        groups = [self.seeds] if self.seeds_together else [(seed,) for seed in self.seeds]
        return [(d, b, g) for d in self.datasets for b in self.backbones for g in groups]

    def unit_name(self, dataset: str, backbone: str, seeds: tuple[int, ...]) -> str:
        """runs/<dataset>__<backbone>__<seed>, or __seeds<s1-s2-...> for members."""
        tag = "seeds" + "-".join(map(str, seeds)) if self.seeds_together else str(seeds[0])
        return f"{dataset.replace('/', '-')}__{backbone}__{tag}"

    def unit_of(self, dataset: str, backbone: str, seed: int) -> tuple[str, int]:
        """The run folder holding the model of `seed`, and its index among the folder's models."""
        if self.seeds_together:
            return self.unit_name(dataset, backbone, self.seeds), self.seeds.index(seed)
        return self.unit_name(dataset, backbone, (seed,)), 0

    def training_args(
        self, dataset: str, backbone: str, seeds: tuple[int, ...], run_dir: Path
    ) -> Args:
        """The run's Args: the suite's training settings, and those it decides per run; a row
        `<backbone>@<variant>` also its own training settings from its overrides."""
        overrides = self.overrides.get(backbone, {})
        params = self.backbone_settings | {
            k: v for k, v in overrides.items() if k not in TRAINING_SETTINGS
        }
        together = {"seeds": seeds} if self.seeds_together else {"seed": seeds[0]}
        shared = {name: getattr(self, name) for name in TRAINING_SETTINGS}
        shared |= {k: v for k, v in overrides.items() if k in TRAINING_SETTINGS}
        # A short suite (smoke's 20 steps) still logs its loss, at its last step at least.
        shared["log_every"] = min(shared["log_every"], shared["steps"])
        return Args(
            **shared,
            backbone=backbone_config(registry_name(backbone), **params),
            dataset=dataset,
            out_dir=run_dir,
            **together,
            eval_mode=self.eval_modes[0],
        )

    def to_dict(self) -> dict:
        return {
            f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
            for f in dataclasses.fields(self)
        }


# The suite's own settings: what it runs, its final evaluation and its report. None has the name
# of a training setting.
SUITE_ONLY_FIELDS = [
    (
        "name",
        str,
        _setting("custom", "Name of the suite (the preset's, or the suite file's stem)."),
    ),
    ("datasets", tuple[str, ...], _setting(("replica/hopper/mini-v0",), "Minari dataset ids.")),
    (
        "backbones",
        tuple[str, ...],
        _setting(
            (ALL_BACKBONES,), f"Registry names; '{ALL_BACKBONES}' = every registered backbone."
        ),
    ),
    (
        "seeds",
        tuple[int, ...],
        _setting((0, 1, 2), "Training seeds (also the evaluation env seeds)."),
    ),
    (
        "backbone_settings",
        dict,
        _setting({}, "Fields given to every backbone, e.g. d_model=64 n_layers=2."),
    ),
    ("overrides", dict, _setting({}, "Fields for one backbone, e.g. transformer.n_heads=1.")),
    (
        "final_eval_episodes",
        int,
        _setting(100, "Episodes of the final evaluation (the 'last' score)."),
    ),
    (
        "eval_modes",
        tuple[Mode, ...],
        _setting(
            ("recurrent", "windowed"),
            "Rollout modes of the final evaluation; the first is also the periodic evaluation's.",
        ),
    ),
    (
        "bootstrap_reps",
        int,
        _setting(2000, "Bootstrap resamples of the suite-wide CIs and performance profiles."),
    ),
    (
        "dataset_steps",
        int | None,
        _setting(
            None, "Steps of replica datasets built when missing (default: the recipe's, 1M/part)."
        ),
    ),
    (
        "test_delay_factor",
        int | None,
        _setting(
            None,
            "Memory tasks: also evaluate each last checkpoint (first mode) at this multiple of "
            "its training delay: the table 'trained at D, tested at N×D' (length generalisation).",
        ),
    ),
    (
        "seeds_together",
        bool | None,
        _setting(
            None,
            "Train each dataset × backbone's seeds as the members of one run (train.py --seeds, "
            "one batched computation) instead of one run per seed (default: on a GPU only).",
        ),
    ),
]
# train.py's settings, under their Args names, except those the suite decides for each run
# (their Args metadata names the suite's key that decides them: datasets, seeds, --out-dir...).
PER_RUN = {
    name: f.metadata["suite_key"] for name, f in ARGS_FIELDS.items() if f.metadata["suite_key"]
}
TRAINING_SETTINGS = [name for name in ARGS_FIELDS if name not in PER_RUN]
_ARGS_HINTS = typing.get_type_hints(Args)
_ARGS_HELP = field_docstrings(Args)
Suite = dataclasses.make_dataclass(
    "Suite",
    [
        *SUITE_ONLY_FIELDS,
        *(
            (name, _ARGS_HINTS[name], _setting(ARGS_FIELDS[name].default, _ARGS_HELP[name]))
            for name in TRAINING_SETTINGS
        ),
    ],
    bases=(SuiteMethods,),
    frozen=True,
    namespace={
        "__doc__": "The resolved suite: its own settings and train.py's shared by every run; "
        "suite.json in a results folder is its JSON form.",
        "__post_init__": lambda self: check_field_types(self),
    },
)
Suite.__module__ = __name__
SETTINGS = {f.name: f for f in dataclasses.fields(Suite)}


def preset_names() -> list[str]:
    return list(_read_toml(PRESETS_FILE))


def load_preset(name: str) -> Suite:
    presets = _read_toml(PRESETS_FILE)
    if name not in presets:
        raise UsageError(f"unknown preset {name!r}; expected one of {', '.join(presets)}")
    return suite_from_mapping(name, presets[name], f"preset {name!r}")


def load_suite_file(path: Path) -> Suite:
    if not path.is_file():
        raise UsageError(f"--suite {path}: no such file")
    return suite_from_mapping(path.stem, _read_toml(path), f"--suite {path}")


def suite_from_mapping(name: str, mapping: dict, where: str) -> Suite:
    """A Suite from TOML or JSON values (lists become tuples). Unknown keys, the training
    settings the suite decides per run, and values of the wrong type are refused in one line
    naming the key."""
    for key in sorted(set(mapping) - set(SETTINGS)):
        if key in PER_RUN:
            raise UsageError(
                f"{where}: {key} is decided for each run by the suite: give {PER_RUN[key]}"
            )
        raise UsageError(
            f"{where}: unknown setting {key!r}; expected some of {', '.join(SETTINGS)}"
        )
    values = {key: tuple(v) if isinstance(v, list) else v for key, v in mapping.items()}
    try:
        return Suite(**({"name": name} | values))
    except ConfigError as error:
        raise UsageError(f"{where}: {error}") from None


def translated_keys(mapping: dict) -> dict:
    """A suite.json of a results folder written before the suite took train.py's names, with
    today's names (its `periodic_eval_episodes` tells it apart); today's, unchanged."""
    if "periodic_eval_episodes" not in mapping:
        return mapping
    return {RENAMED_KEYS.get(key, key): value for key, value in mapping.items()}


def with_overrides(suite: Suite, flags: dict) -> Suite:
    """The suite with the settings given on the command line (those not None) replaced."""
    try:
        return dataclasses.replace(suite, **{k: v for k, v in flags.items() if v is not None})
    except ConfigError as error:
        raise UsageError(str(error)) from None


def resolve(suite: Suite) -> Suite:
    """Check every setting and expand 'all' backbones; raises UsageError naming the bad one."""
    if ALL_BACKBONES in suite.backbones:
        suite = dataclasses.replace(suite, backbones=tuple(BACKBONES))
    for name in EXTENDABLE:
        values = getattr(suite, name)
        if not values:
            raise UsageError(f"--{name} needs at least one value")
        if len(set(values)) != len(values):
            raise UsageError(f"--{name} lists a value twice: {' '.join(map(str, values))}")
    for backbone in suite.backbones:
        if registry_name(backbone) not in BACKBONES:
            raise UsageError(f"unknown backbone {backbone!r}; registered: {', '.join(BACKBONES)}")
    for backbone in suite.overrides:
        if backbone not in suite.backbones:
            raise UsageError(f"--overrides names {backbone!r}, which is not among --backbones")
    for mode in suite.eval_modes:
        if mode not in ("recurrent", "windowed"):
            raise UsageError(f"--eval-modes: unknown mode {mode!r}; expected recurrent, windowed")
    if not suite.eval_modes:
        raise UsageError("--eval-modes needs at least one value")
    if suite.final_eval_episodes <= 0:
        raise UsageError(f"--final-eval-episodes must be positive, got {suite.final_eval_episodes}")
    if suite.test_delay_factor is not None and suite.test_delay_factor <= 0:
        raise UsageError(f"--test-delay-factor must be positive, got {suite.test_delay_factor}")
    if suite.bootstrap_reps <= 0:
        raise UsageError(f"--bootstrap-reps must be positive, got {suite.bootstrap_reps}")
    if suite.target_returns == ():
        raise UsageError("--target-returns needs at least one value")
    for backbone in suite.backbones:
        overrides = suite.overrides.get(backbone, {})
        if VARIANT_MARK in backbone:  # its training settings are checked with train.py's
            overrides = {k: v for k, v in overrides.items() if k not in TRAINING_SETTINGS}
        _check_backbone_fields(registry_name(backbone), suite.backbone_settings | overrides)
        # Settings shared with train.py are checked by train.py's own checks.
        validate(suite.training_args(suite.datasets[0], backbone, suite.seeds, Path(".")))
    return suite


def registry_name(row: str) -> str:
    """A suite row's backbone: 'transformer@K20' -> 'transformer'."""
    return row.partition(VARIANT_MARK)[0]


def _check_backbone_fields(backbone: str, params: dict) -> None:
    fields = {f.name for f in dataclasses.fields(BACKBONES[backbone])}
    for name in params:
        if name not in fields:
            raise UsageError(
                f"unknown field {name!r} for backbone {backbone}; its fields: {', '.join(fields)}"
            )
    try:
        backbone_config(backbone, **params)
    except (TypeError, ValueError) as error:
        raise UsageError(f"backbone {backbone}: {error}") from None


def check_same_suite(saved: Suite, suite: Suite, where: Path) -> None:
    """A results folder may be continued by the same suite, or one that adds datasets, backbones
    or seeds; any other change is refused naming the changed setting."""
    for name in SETTINGS:
        before, now = getattr(saved, name), getattr(suite, name)
        if name == "name":
            continue
        if name == "seeds" and saved.seeds_together and before != now:
            raise UsageError(
                f"{where} holds another suite: --seeds is {' '.join(map(str, before))} there, "
                "trained together as one run's members; give the same seeds or a new folder"
            )
        if name in EXTENDABLE:
            dropped = [v for v in before if v not in now]
            if dropped:
                raise UsageError(
                    f"{where} holds another suite: --{name} drops "
                    f"{' '.join(map(str, dropped))} (results there were made with it)"
                )
        elif name == "overrides":
            changed = [b for b in saved.backbones if before.get(b, {}) != now.get(b, {})]
            if changed:
                raise UsageError(f"{where} holds another suite: overrides of {changed[0]} differ")
        elif before != now:
            raise UsageError(
                f"{where} holds another suite: {flag(name)} is {before} there, {now} here"
            )


def parse_assignments(assignments: tuple[str, ...], with_backbone: bool) -> dict:
    """'d_model=16' -> {'d_model': 16}; with_backbone: 'transformer.n_heads=1' ->
    {'transformer': {'n_heads': 1}}. Values are read as TOML values (1, 0.5, true, "text")."""
    parsed: dict = {}
    for assignment in assignments:
        key, separator, value = assignment.partition("=")
        backbone, dot, name = key.partition(".") if with_backbone else ("", ".", key)
        if not separator or not dot or not name:
            form = "BACKBONE.FIELD=VALUE" if with_backbone else "FIELD=VALUE"
            raise UsageError(f"{assignment!r}: expected {form}")
        with contextlib.suppress(tomllib.TOMLDecodeError):  # a bare word stays text
            value = tomllib.loads(f"v = {value}")["v"]
        target = parsed.setdefault(backbone, {}) if with_backbone else parsed
        target[name.replace("-", "_")] = value
    return parsed


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise UsageError(f"{path}: not a readable TOML file: {error}") from None
