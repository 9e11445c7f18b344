"""Build a D4RL-style Minari dataset by rolling behaviour policies out in the environment.

    python -m datasets.build --env hopper --level medium --policies-dir ../shared/policies
    python -m datasets.build --recipe datasets/recipes/hopper-mini-v0.json \
        --policies-dir ../shared/policies --root datasets/bundled
    python -m datasets.build --env cue-reach --delay 30 --level mixed   # a memory task
"""

import hashlib
import json
import math
import os
import shlex
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated

import gymnasium as gym
import numpy as np
import tyro

from datasets.build_progress import collection_progress
from datasets.build_staging import staging_folder
from datasets.collect import CollectionTask, Episode, collect, collect_all
from datasets.errors import BuildWorkerDied, DatasetError
from datasets.minari_store import local_root
from datasets.minari_writing import check_dataset_id, move_into_place, write_dataset
from datasets.policy import load_policy
from datasets.recipe import (
    SCRIPTED_PREFIX,
    UNIFORM_RANDOM,
    Recipe,
    level_recipe,
    memory_recipe,
    read_recipe,
)
from envs.cue_reach import episode_length as cue_reach_episode_length
from envs.make import MEMORY_ENV_IDS, env_id_for, is_memory_env
from infra.stop_signals import Stopped, stop_signals_raise

# Envs per process for a large part; a small part gets about one env per 1000 steps, so that
# finishing the last episodes adds little beyond the requested steps.
DEFAULT_NUM_ENVS = 32
STEPS_PER_ENV_AT_LEAST = 1000
# Episodes per target choice that measure a memory task's reference returns.
REFERENCE_EPISODES = 64


def build_dataset(
    env: str,
    level: str,
    policies_dir: str | Path | None,
    steps: int | None = None,
    seed: int = 0,
    dataset_id: str | None = None,
    **options,
) -> str:
    """Build `replica/<env>/<level>-v0` (or `dataset_id`) from recipes/levels.json, or a memory
    task's `memory/<env>-d<delay>/<level>-v0` (options: delay=D); `steps` rescales the recipe's
    mixture. Options as for build_from_recipe. Returns the dataset id."""
    delay = options.pop("delay", None)
    if env in MEMORY_ENV_IDS:
        recipe = memory_recipe(env, level, delay, seed)
    else:
        recipe = level_recipe(env, level, seed)
    if steps is not None:
        recipe = recipe.scaled_to(steps)
    if dataset_id is not None:
        recipe = replace(recipe, dataset_id=dataset_id)
    return build_from_recipe(recipe, policies_dir, **options)


def build_from_recipe(
    recipe: Recipe,
    policies_dir: str | Path | None,
    root: str | Path | None = None,
    num_envs: int = DEFAULT_NUM_ENVS,
    workers: int | None = None,
    overwrite: bool = False,
    show_progress: bool = True,
) -> str:
    """Collect the recipe's parts and write them as one Minari dataset into `root` (default:
    the local Minari store). The dataset is written to a staging folder in `root` and moved
    into place only when complete; one build of an id runs at a time. Returns the dataset id."""
    env_id = _env_id(recipe.env)
    if num_envs <= 0 or (workers is not None and workers <= 0):
        raise DatasetError(f"--num-envs and --workers must be positive, got {num_envs}, {workers}")
    root = Path(root).resolve() if root is not None else local_root()  # Minari needs absolute
    destination = root / recipe.dataset_id
    check_dataset_id(recipe.dataset_id)
    with staging_folder(root, recipe.dataset_id) as staging:
        if destination.exists() and not overwrite:
            raise DatasetError(f"dataset {recipe.dataset_id!r} already exists at {destination}")
        policy_paths = [
            None
            if part.policy.startswith(SCRIPTED_PREFIX)
            else _policy_path(part.policy, policies_dir, env_id)
            for part in recipe.parts
        ]
        workers = workers or os.cpu_count() or 1
        tasks = _tasks(recipe, env_id, policy_paths, num_envs, workers)

        target = sum(task.steps for task in tasks)
        with collection_progress(recipe.dataset_id, target, show_progress) as on_steps:
            results = collect_all(tasks, workers, on_steps)
        episodes = [episode for result in results for episode in result]
        _check_finite(episodes, recipe.dataset_id)

        scripted = is_memory_env(env_id)
        write_dataset(
            staging,
            recipe.dataset_id,
            env_id,
            episodes,
            algorithm_name="scripted controller (inverse kinematics + PD, action noise)"
            if scripted
            else "behaviour-policy rollouts (gaussian-mlp/1)",
            author="decision-backbones datasets.build",
            description=_description(recipe, env_id, policy_paths, policies_dir, episodes, tasks),
            references=_scripted_references(recipe, env_id) if scripted else None,
            env_kwargs=recipe.env_kwargs,
        )
        move_into_place(staging, root, recipe.dataset_id, overwrite)
    return recipe.dataset_id


def _env_id(env: str) -> str:
    try:
        return env_id_for(env)
    except ValueError as error:
        raise DatasetError(str(error)) from error


def _policy_path(policy: str, policies_dir, env_id: str) -> Path | None:
    """The file of one recipe part, checked against the env (None: uniform random actions)."""
    if policy == UNIFORM_RANDOM:
        return None
    if policies_dir is None:
        raise DatasetError(f"policy {policy!r} needs --policies-dir")
    path = Path(policies_dir) / f"{policy}.npz"
    loaded = load_policy(path)
    env = gym.make(env_id)
    expected = (env.observation_space.shape[0], env.action_space.shape[0])
    env.close()
    if loaded.env_id != env_id:
        raise DatasetError(f"policy file {path} is for {loaded.env_id}, not {env_id}")
    if (loaded.observation_dim, loaded.action_dim) != expected:
        raise DatasetError(
            f"policy file {path} maps {loaded.observation_dim}-dim observations to "
            f"{loaded.action_dim}-dim actions; {env_id} has {expected[0]} and {expected[1]}"
        )
    return path


def _tasks(recipe: Recipe, env_id: str, policy_paths, num_envs: int, workers: int):
    """Each part split over the workers; seeds from one SeedSequence, distinct per task."""
    tasks = []
    for part_index, (part, path) in enumerate(zip(recipe.parts, policy_paths, strict=True)):
        shares = min(workers, math.ceil(part.steps / STEPS_PER_ENV_AT_LEAST))
        for share in range(shares):
            steps = math.ceil(part.steps / shares)
            envs = max(1, min(num_envs, steps // STEPS_PER_ENV_AT_LEAST))
            seed = np.random.SeedSequence(recipe.seed, spawn_key=(part_index, share))
            scripted = part.policy.startswith(SCRIPTED_PREFIX)
            level = part.policy.removeprefix(SCRIPTED_PREFIX) if scripted else None
            tasks.append(
                CollectionTask(
                    env_id,
                    path,
                    steps,
                    envs,
                    int(seed.generate_state(1)[0]),
                    scripted_level=level,
                    env_kwargs=recipe.env_kwargs,
                )
            )
    return tasks


def _scripted_references(recipe: Recipe, env_id: str) -> tuple[float, float]:
    """A memory task's reference returns (0 and 100 of its normalised score): a uniformly random
    choice of target (the mean of the scripted controller reaching the cued and the other
    target), and the expert controller (always the cued one). The same seeds for both."""
    seed_sequence = np.random.SeedSequence(recipe.seed, spawn_key=(len(recipe.parts),))
    seed = int(seed_sequence.generate_state(1)[0])  # apart from every collection task's
    steps = REFERENCE_EPISODES * cue_reach_episode_length(**recipe.env_kwargs)  # one each
    mean_return = {}
    for level in ("expert", "other-target"):
        task = CollectionTask(
            env_id, None, steps, REFERENCE_EPISODES, seed, level, recipe.env_kwargs
        )
        mean_return[level] = float(np.mean([episode.rewards.sum() for episode in collect(task)]))
    return (mean_return["expert"] + mean_return["other-target"]) / 2, mean_return["expert"]


def _check_finite(episodes: list[Episode], dataset_id: str) -> None:
    if not episodes:
        raise DatasetError(f"dataset {dataset_id!r}: no episodes were collected")
    for index, episode in enumerate(episodes):
        for name in ("observations", "actions", "rewards"):
            if not np.all(np.isfinite(getattr(episode, name))):
                raise DatasetError(f"dataset {dataset_id!r} episode {index}: {name} not finite")


def _description(recipe, env_id, policy_paths, policies_dir, episodes, tasks) -> str:
    catalog = _catalog(policies_dir)
    lines = [
        f"Collected in {env_id} {recipe.env_kwargs or ''}by rolling behaviour policies out with "
        f"stochastic actions (as D4RL), {sum(len(e.rewards) for e in episodes)} steps in "
        f"{len(episodes)} complete episodes; terminations and truncations as Gymnasium reported "
        f"them (time limit {gym.spec(env_id).max_episode_steps or 'none: the task ends it'}). "
        f"Seed {recipe.seed}; "
        f"{len(tasks)} collection tasks, {sum(t.num_envs for t in tasks)} environments in all. "
        "Parts:"
    ]
    for part, path in zip(recipe.parts, policy_paths, strict=True):
        if part.policy.startswith(SCRIPTED_PREFIX):
            level = part.policy.removeprefix(SCRIPTED_PREFIX)
            lines.append(
                f"- {part.steps} steps of the scripted controller at level {level!r} "
                "(datasets/scripted_reach.py: inverse kinematics + PD, Gaussian action noise; "
                "mixed: half the episodes, drawn at random, reach the other target). Reference "
                "returns: a uniformly random choice of target (0), the expert controller (100)"
            )
        elif path is None:
            lines.append(f"- {part.steps} steps of uniformly random actions")
        else:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            lines.append(
                f"- {part.steps} steps of {path.name} (sha256 {digest}); source: "
                f"{_source(catalog.get(part.policy))}"
            )
    return "\n".join(lines)


def _source(entry: dict | None) -> str:
    if entry is None or "source" not in entry:
        return "not in catalog.json"
    source = entry["source"]
    fields = ("repo", "commit", "path", "license", "algorithm")
    return ", ".join(f"{key} {source[key]}" for key in fields if key in source)


def _catalog(policies_dir) -> dict:
    """The policies folder's catalog.json (provenance of each file), if it has one."""
    path = None if policies_dir is None else Path(policies_dir) / "catalog.json"
    if path is None or not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise DatasetError(f"{path} is not valid JSON: {error}") from error


@dataclass
class BuildArgs:
    """Build a Minari dataset from behaviour policies (D4RL-style levels, or a recipe file)."""

    env: str | None = None
    """hopper, halfcheetah or walker2d; or the memory task cue-reach (with --delay)."""
    level: str | None = None
    """random, medium, medium-replay, medium-expert or expert; cue-reach: expert or mixed."""
    delay: int | None = None
    """Memory tasks only: steps between the cue and the go flag (writes memory/<env>-d<D>/...)."""
    recipe: Path | None = None
    """A recipe JSON file instead of --env/--level (e.g. datasets/recipes/hopper-mini-v0.json)."""
    policies_dir: Path | None = None
    """Folder of gaussian-mlp/1 policy files (and catalog.json); not needed for random."""
    steps: Annotated[int | None, tyro.conf.arg(help_behavior_hint="(default: the recipe's)")] = None
    """Total steps, the recipe's mixture rescaled (D4RL's levels have 1M)."""
    seed: Annotated[
        int | None, tyro.conf.arg(help_behavior_hint="(default: the recipe's, else 0)")
    ] = None
    """Seed of environments and action noise."""
    dataset_id: Annotated[
        str | None,
        tyro.conf.arg(help_behavior_hint="(default: replica/<env>/<level>-v0, or the recipe's)"),
    ] = None
    """Minari id to write."""
    root: Annotated[
        Path | None,
        tyro.conf.arg(
            help_behavior_hint="(default: MINARI_DATASETS_PATH, else ~/.minari/datasets)"
        ),
    ] = None
    """Minari store to write into."""
    num_envs: int = DEFAULT_NUM_ENVS
    """Environments per worker process."""
    workers: Annotated[
        int | None, tyro.conf.arg(help_behavior_hint="(default: one per CPU core)")
    ] = None
    """Worker processes."""
    overwrite: bool = False
    """Replace an existing dataset of the same id (only once the new one is complete)."""


def main(argv: list[str] | None = None) -> None:
    args = tyro.cli(BuildArgs, args=argv, prog="python -m datasets.build")
    try:
        with stop_signals_raise():
            dataset_id = build_from_args(args)
    except DatasetError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except BuildWorkerDied as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    except Stopped as stop:
        # The workers are stopped and the staging folder removed; a build starts from scratch.
        again = shlex.join(
            ["python", "-m", "datasets.build", *(sys.argv[1:] if argv is None else argv)]
        )
        print(f"interrupted ({stop}); build again with: {again}", file=sys.stderr)
        sys.exit(128 + stop.signal_number)
    print(f"built {dataset_id}")


def build_from_args(args: BuildArgs) -> str:
    if args.recipe is not None:
        if args.env is not None or args.level is not None or args.delay is not None:
            raise DatasetError("give either --recipe or --env and --level (and --delay), not both")
        recipe = read_recipe(args.recipe)
    elif args.env is None or args.level is None:
        raise DatasetError("give --env and --level (or --recipe)")
    elif args.env in MEMORY_ENV_IDS:
        recipe = memory_recipe(args.env, args.level, args.delay)
    elif args.delay is not None:
        raise DatasetError(
            f"--delay is for the memory tasks {sorted(MEMORY_ENV_IDS)} only, not --env {args.env}"
        )
    else:
        recipe = level_recipe(args.env, args.level)
    if args.steps is not None:
        recipe = recipe.scaled_to(args.steps)
    recipe = replace(
        recipe,
        seed=recipe.seed if args.seed is None else args.seed,
        dataset_id=args.dataset_id or recipe.dataset_id,
    )
    return build_from_recipe(
        recipe,
        args.policies_dir,
        root=args.root,
        num_envs=args.num_envs,
        workers=args.workers,
        overwrite=args.overwrite,
    )


if __name__ == "__main__":
    main()
