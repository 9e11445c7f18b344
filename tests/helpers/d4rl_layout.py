"""Files in D4RL's layout, written by the tests themselves: a behaviour policy rolled out in a v4
environment, recorded step by step as D4RL recorded its data (the simulator state before each
step in infos/qpos and infos/qvel, float32 arrays)."""

import functools
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from datasets.policy import load_policy
from envs.make import make_env
from tests.helpers.paths import SHARED
from tests.helpers.policies import policy_arrays, write_policy


@dataclass(frozen=True)
class Rollout:
    arrays: dict[str, np.ndarray]  # D4RL's keys -> (N, ...) arrays
    episode_lengths: tuple[int, ...]  # the complete episodes, as the env ended them
    terminated: tuple[bool, ...]  # whether each ended by falling (else by the time limit)


@functools.cache
def rollout(env_id: str, steps: int, time_limit: int, seed: int, policies_dir: Path) -> Rollout:
    """`steps` steps of `env_id`; even episodes act with a behaviour policy from `policies_dir`
    (stochastic, as D4RL), odd ones uniformly at random (these fall: terminals). An episode that
    reaches `time_limit` steps ends with a timeout (D4RL's limit was 1000); the last one is cut
    at `steps` (a partial episode)."""
    policy = load_policy(policies_dir / f"{env_id.split('-')[0].lower()}.npz")
    rng = np.random.default_rng(seed)
    env = make_env(env_id)
    simulator = env.unwrapped
    keys = ("observations", "actions", "rewards", "terminals", "timeouts", "next_observations")
    recorded: dict[str, list] = {key: [] for key in (*keys, "infos/qpos", "infos/qvel")}
    lengths, terminated = [], []
    observation, _ = env.reset(seed=seed)
    length = 0
    for _ in range(steps):
        if len(lengths) % 2 == 0:
            action = policy.act(observation[None], rng)[0]
        else:
            action = rng.uniform(-1, 1, env.action_space.shape).astype(np.float32)
        recorded["infos/qpos"].append(simulator.data.qpos.copy())
        recorded["infos/qvel"].append(simulator.data.qvel.copy())
        next_observation, reward, fell, _, _ = env.step(action)
        length += 1
        timeout = not fell and length == time_limit
        for key, value in zip(
            keys, (observation, action, reward, fell, timeout, next_observation), strict=True
        ):
            recorded[key].append(value)
        observation = next_observation
        if fell or timeout:
            lengths.append(length)
            terminated.append(bool(fell))
            observation, _ = env.reset()
            length = 0
    env.close()
    arrays = {key: np.array(values) for key, values in recorded.items()}
    for key, values in arrays.items():
        if values.dtype == np.float64:
            arrays[key] = values.astype(np.float32)  # as D4RL stored them
    return Rollout(arrays, tuple(lengths), tuple(terminated))


def behaviour_policies(folder: Path) -> Path:
    """A folder with one policy per env, `hopper.npz` etc.: the shared medium-level policies
    when they are beside the repository, else small random gaussian-mlp/1 policies."""
    folder.mkdir(parents=True, exist_ok=True)
    for env, shared, dims in (
        ("hopper", "hopper-sac", (11, 3)),
        ("walker2d", "walker2d-sac", (17, 6)),
    ):
        source = SHARED / "policies" / f"{shared}.npz"
        if source.is_file():
            (folder / f"{env}.npz").symlink_to(source)
        else:
            write_policy(folder, env, policy_arrays(*dims))
    return folder


def write_d4rl_file(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    """Write `arrays` as D4RL did: one HDF5 dataset per key, gzip-compressed."""
    with h5py.File(path, "w") as file:
        for key, values in arrays.items():
            file.create_dataset(key, data=values, compression="gzip")
    return path
