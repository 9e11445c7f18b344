"""Recipes: which behaviour policies a dataset is collected from, and how many steps each.

A recipe is data (JSON). `recipes/levels.json` holds the D4RL-style levels per environment;
a standalone recipe file (like the bundled dataset's) also names its dataset id and seed."""

import json
from dataclasses import dataclass, field
from pathlib import Path

from datasets.errors import DatasetError
from datasets.scripted_reach import LEVELS as SCRIPTED_LEVELS
from envs.cue_reach import episode_length
from envs.make import MEMORY_ENV_IDS

RECIPES_DIR = Path(__file__).resolve().parent / "recipes"
LEVELS_FILE = RECIPES_DIR / "levels.json"
# The policy name that means uniformly random actions instead of a policy file.
UNIFORM_RANDOM = "uniform-random"
# A policy name "scripted:<level>" means a memory task's scripted controller at that level.
SCRIPTED_PREFIX = "scripted:"
# Episodes of a memory-task dataset: its steps follow from the delay.
MEMORY_EPISODES = 500


@dataclass(frozen=True)
class RecipePart:
    policy: str  # a policy file `<policy>.npz` in the policies folder, or UNIFORM_RANDOM
    steps: int


@dataclass(frozen=True)
class Recipe:
    dataset_id: str  # Minari id, e.g. "replica/hopper/medium-v0"
    env: str  # short name, e.g. "hopper"
    parts: tuple[RecipePart, ...]
    seed: int = 0
    env_kwargs: dict = field(default_factory=dict)  # a memory task's {"delay": D}

    @property
    def steps(self) -> int:
        return sum(part.steps for part in self.parts)

    def scaled_to(self, steps: int) -> "Recipe":
        """The same mixture with `steps` steps in all (each part at least one step)."""
        if steps <= 0:
            raise DatasetError(f"--steps must be positive, got {steps}")
        scaled = tuple(
            RecipePart(part.policy, max(1, round(steps * part.steps / self.steps)))
            for part in self.parts
        )
        return Recipe(self.dataset_id, self.env, scaled, self.seed, self.env_kwargs)

    def to_json(self) -> str:
        parts = [{"policy": part.policy, "steps": part.steps} for part in self.parts]
        fields = {"dataset_id": self.dataset_id, "env": self.env, "seed": self.seed}
        if self.env_kwargs:
            fields["env_kwargs"] = self.env_kwargs
        return json.dumps({**fields, "parts": parts}, indent=2) + "\n"


def level_names(env: str) -> list[str]:
    return sorted(_read_json(LEVELS_FILE).get(env, {}))


def level_recipe(env: str, level: str, seed: int = 0) -> Recipe:
    """The recipe of `replica/<env>/<level>-v0` from recipes/levels.json."""
    levels = _read_json(LEVELS_FILE)
    if env not in levels:
        raise DatasetError(f"unknown --env {env!r}; expected one of {sorted(levels)}")
    if level not in levels[env]:
        raise DatasetError(f"unknown --level {level!r}; expected one of {sorted(levels[env])}")
    parts = _parse_parts(levels[env][level], f"{LEVELS_FILE} [{env}][{level}]")
    return Recipe(f"replica/{env}/{level}-v0", env, parts, seed)


def memory_dataset_id(env: str, delay: int, level: str) -> str:
    return f"memory/{env}-d{delay}/{level}-v0"


def memory_recipe(env: str, level: str, delay: int | None, seed: int = 0) -> Recipe:
    """The recipe of `memory/<env>-d<delay>/<level>-v0`: MEMORY_EPISODES episodes of the
    scripted controller at `level` ("expert" or "mixed")."""
    if env not in MEMORY_ENV_IDS:
        raise DatasetError(f"unknown memory task {env!r}; expected one of {sorted(MEMORY_ENV_IDS)}")
    if delay is None:
        raise DatasetError(f"--env {env} needs --delay (steps between the cue and the go flag)")
    if delay <= 0:
        raise DatasetError(f"--delay must be a positive number of steps, got {delay}")
    if level not in SCRIPTED_LEVELS:
        raise DatasetError(f"unknown --level {level!r}; expected one of {sorted(SCRIPTED_LEVELS)}")
    part = RecipePart(f"{SCRIPTED_PREFIX}{level}", MEMORY_EPISODES * episode_length(delay))
    return Recipe(memory_dataset_id(env, delay, level), env, (part,), seed, {"delay": delay})


def read_recipe(path: str | Path) -> Recipe:
    """A standalone recipe file: {"dataset_id", "env", "seed", "parts": [{"policy", "steps"}]}."""
    fields = _read_json(Path(path))
    try:
        return Recipe(
            str(fields["dataset_id"]),
            str(fields["env"]),
            _parse_parts(fields["parts"], str(path)),
            int(fields.get("seed", 0)),
            dict(fields.get("env_kwargs", {})),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise DatasetError(f"recipe {path} is malformed: {error!r}") from error


def _parse_parts(entries, where: str) -> tuple[RecipePart, ...]:
    try:
        parts = tuple(RecipePart(str(e["policy"]), int(e["steps"])) for e in entries)
    except (KeyError, TypeError, ValueError) as error:
        raise DatasetError(f"recipe {where} is malformed: {error!r}") from error
    if not parts or any(part.steps <= 0 for part in parts):
        raise DatasetError(f"recipe {where} needs at least one part, each with steps > 0")
    return parts


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as error:
        raise DatasetError(f"recipe {path} not found") from error
    except (OSError, json.JSONDecodeError) as error:
        raise DatasetError(f"recipe {path} is not valid JSON: {error}") from error
