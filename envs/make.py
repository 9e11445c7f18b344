"""Making the Gymnasium MuJoCo environments a dataset was collected in."""

import contextlib
import warnings
from collections.abc import Iterator
from typing import Literal

import gymnasium as gym
import mujoco
from gymnasium.vector import AutoresetMode

from envs.cue_reach import episode_length as cue_reach_episode_length

# The short names the command lines take, and the v5 environments they mean.
ENV_IDS = {"hopper": "Hopper-v5", "halfcheetah": "HalfCheetah-v5", "walker2d": "Walker2d-v5"}
# The environments D4RL's -v2 data match: v3's model and rewards on the new MuJoCo bindings
# (D4RL collected them in Gym's v3 environments, which Gymnasium no longer makes).
D4RL_ENV_IDS = {"hopper": "Hopper-v4", "halfcheetah": "HalfCheetah-v4", "walker2d": "Walker2d-v4"}
# Memory tasks (envs/cue_reach.py): made with a `delay` keyword, gym.make("CueReach-v0", delay=30).
MEMORY_ENV_IDS = {"cue-reach": "CueReach-v0"}
if "CueReach-v0" not in gym.registry:
    gym.register("CueReach-v0", entry_point="envs.cue_reach:CueReachEnv")


# Gymnasium's own HalfCheetah XML uses this attribute: MuJoCo warns at every env made (once per
# build worker), and no user of this project can act on it.
_SILENCED_WARNING = "compiler attribute 'settotalmass' is deprecated"


def _warn_through_python(message) -> None:
    # MuJoCo otherwise appends its warnings to MUJOCO_LOG.TXT in the working directory.
    text = message.decode(errors="replace") if isinstance(message, bytes) else str(message)
    if text.startswith(_SILENCED_WARNING):
        return
    warnings.warn(f"MuJoCo: {text}", RuntimeWarning, stacklevel=2)


mujoco.set_mju_user_warning(_warn_through_python)


@contextlib.contextmanager
def _v4_made_quietly() -> Iterator[None]:
    """Gymnasium warns that a v4 env "is out of date" each time one is made (in every process);
    here v4 is chosen on purpose, for D4RL's data."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore",
            message=r".*The environment \w+-v4 is out of date",
            category=DeprecationWarning,
        )
        yield


def env_id_for(name: str) -> str:
    """'hopper' -> 'Hopper-v5', 'cue-reach' -> 'CueReach-v0'; a full Gymnasium id of these envs,
    v5 or v4 (D4RL's data), passes through unchanged."""
    short_names = ENV_IDS | MEMORY_ENV_IDS
    if name in short_names:
        return short_names[name]
    if name in short_names.values() or name in D4RL_ENV_IDS.values():
        return name
    raise ValueError(
        f"unknown environment {name!r}; expected one of {sorted(short_names)}, "
        f"{sorted(short_names.values())} or {sorted(D4RL_ENV_IDS.values())}"
    )


def is_memory_env(env_id: str) -> bool:
    """Whether `env_id` (short name or Gymnasium id) is a memory task, made with a delay."""
    return env_id in MEMORY_ENV_IDS or env_id in MEMORY_ENV_IDS.values()


def check_env_kwargs(env_id: str, env_kwargs: dict) -> None:
    """Only memory tasks take keywords (their `delay`); ValueError in one line otherwise."""
    if env_kwargs and not is_memory_env(env_id):
        raise ValueError(
            f"{env_id_for(env_id)} takes no environment keywords (got {sorted(env_kwargs)}); "
            f"only the memory tasks {sorted(MEMORY_ENV_IDS)} take a delay"
        )


def dataset_env_id(dataset) -> str:
    """The Gymnasium id of the env a Minari dataset was collected in, from its metadata."""
    if dataset.env_spec is None:
        raise ValueError(f"dataset {dataset.id!r} records no environment")
    return env_id_for(dataset.env_spec.id)


def make_env(env_id: str, **env_kwargs) -> gym.Env:
    """One env: `env_id` is a short name ('hopper') or a Gymnasium id ('Hopper-v5', 'Hopper-v4');
    `env_kwargs` only for memory tasks (delay=30)."""
    check_env_kwargs(env_id, env_kwargs)
    with _v4_made_quietly():
        return gym.make(env_id_for(env_id), **env_kwargs)


def make_vector_env(
    env_id: str,
    num_envs: int,
    autoreset_mode: AutoresetMode = AutoresetMode.SAME_STEP,
    max_episode_steps: int | None = None,
    vectorization: Literal["sync", "async"] = "sync",
    env_kwargs: dict | None = None,
    render_size: int | None = None,
) -> gym.vector.VectorEnv:
    """`num_envs` copies of `env_id`, stepped in this process by default (synchronous
    vectorisation: for cheap MuJoCo envs on a few cores it beats subprocesses several times
    over, see bench/vector_env.py); "async" steps each in a subprocess of its own.

    SAME_STEP autoreset: a finished env's next observation is already the new episode's first;
    the final observation is in info["final_obs"]. `max_episode_steps` overrides the env's
    own time limit (1000 for these MuJoCo envs; a memory task's episode length, which its delay
    sets). `env_kwargs` only for memory tasks (e.g. {"delay": 30}). `render_size`: the envs can
    render render_size × render_size RGB frames (each makes its GL context at its first render
    only)."""
    if num_envs <= 0:
        raise ValueError(f"num_envs must be positive, got {num_envs}")
    env_kwargs = env_kwargs or {}
    check_env_kwargs(env_id, env_kwargs)
    if max_episode_steps is None and is_memory_env(env_id):
        max_episode_steps = cue_reach_episode_length(**env_kwargs)
    rendering = {} if render_size is None else {"render_mode": "rgb_array"}
    if render_size is not None:
        rendering |= {"width": render_size, "height": render_size}
    with _v4_made_quietly():
        return gym.make_vec(
            env_id_for(env_id),
            num_envs=num_envs,
            vectorization_mode=vectorization,
            vector_kwargs={"autoreset_mode": autoreset_mode},
            max_episode_steps=max_episode_steps,
            **env_kwargs,
            **rendering,
        )
