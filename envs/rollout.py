"""Batched rollouts: a fixed number of episodes in each env of a vector env, run in lock-step.

Every env is given its episode quota before the rollout starts. Taking "the first N episodes
that finish" instead would favour short episodes (a policy that falls early finishes early) and
bias the score downwards for hoppers and walkers.
"""

from dataclasses import dataclass
from typing import Protocol

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode

from infra.cpu_threads import ThreadsForFreeCores


class Policy(Protocol):
    """What the rollout loop needs of a policy acting in `num_envs` envs at once."""

    def reset(self, rows: np.ndarray) -> None:
        """rows (num_envs,) bool: these envs start a new episode with the next observation."""

    def act(self, observations: np.ndarray) -> np.ndarray:
        """observations (num_envs, obs_dim) -> actions (num_envs, act_dim), one per env."""

    def observe(self, rewards: np.ndarray) -> None:
        """rewards (num_envs,): what the last actions earned."""


@dataclass(frozen=True)
class EpisodeStats:
    """Episodes in env order: env 0's episodes first, in the order they ran, then env 1's."""

    returns: np.ndarray
    """(episodes,) float64: undiscounted return of each episode."""
    lengths: np.ndarray
    """(episodes,) int64: number of steps of each episode."""
    env_seeds: np.ndarray
    """(num_envs,) int64: the seed env i was reset with; its later episodes follow from it."""
    successes: np.ndarray | None = None
    """(episodes,) bool: whether each episode succeeded, from the env's final info["is_success"]
    (memory tasks); None for envs that report no success."""

    @property
    def success_rate(self) -> float | None:
        """The share of episodes that succeeded, in [0, 1]; None where success is not defined."""
        return None if self.successes is None else float(np.mean(self.successes))


def episode_quotas(episodes: int, num_envs: int) -> np.ndarray:
    """Split `episodes` over `num_envs` envs: (num_envs,) int64, equal up to one episode."""
    if episodes <= 0 or num_envs <= 0:
        raise ValueError(f"episodes and num_envs must be positive, got {episodes}, {num_envs}")
    if num_envs > episodes:
        raise ValueError(f"num_envs ({num_envs}) exceeds episodes ({episodes})")
    quotas = np.full(num_envs, episodes // num_envs, dtype=np.int64)
    quotas[: episodes % num_envs] += 1
    return quotas


def rollout(
    envs: gym.vector.VectorEnv, policy: Policy, quotas: np.ndarray, seed: int, film=None
) -> EpisodeStats:
    """Run quotas[i] episodes in env i, calling the policy once per step for all envs.

    Envs that have met their quota keep stepping (a vector env steps all of its envs) but their
    episodes are not counted. `envs` must autoreset in the same step (SAME_STEP), so that the
    observation after a terminal step already belongs to the next episode. `film` (an
    envs.video.EpisodeFilm) is shown every step; it films and changes nothing."""
    if envs.metadata.get("autoreset_mode") != AutoresetMode.SAME_STEP:
        raise ValueError("rollout needs a vector env with AutoresetMode.SAME_STEP")
    num_envs = envs.num_envs
    if quotas.shape != (num_envs,):
        raise ValueError(f"quotas has shape {quotas.shape}, expected ({num_envs},)")

    observations, _ = envs.reset(seed=seed)  # env i is seeded with seed + i
    policy.reset(np.ones(num_envs, dtype=bool))
    if film is not None:
        film.start(envs)
    remaining = quotas.copy()
    running_return = np.zeros(num_envs)
    running_length = np.zeros(num_envs, dtype=np.int64)
    finished: list[list[tuple[float, int, bool | None]]] = [[] for _ in range(num_envs)]
    # fewer threads while other processes keep cores busy
    with ThreadsForFreeCores(adapt=True) as cpu_threads:  # rollouts are not resumed
        while remaining.any():
            cpu_threads.adjust()
            actions = policy.act(observations)
            observations, rewards, terminated, truncated, infos = envs.step(actions)
            policy.observe(rewards)
            counted = remaining > 0
            running_return += np.where(counted, rewards, 0.0)
            running_length += counted
            ended = terminated | truncated
            if film is not None:
                film.step(envs, rewards, ended)
            successes = _final_successes(infos, num_envs)
            for env in np.flatnonzero(ended & counted):
                success = None if successes is None else bool(successes[env])
                finished[env].append(
                    (float(running_return[env]), int(running_length[env]), success)
                )
            running_return[ended] = 0.0
            running_length[ended] = 0
            remaining -= ended & counted
            # The observation these rows just returned is the first of a new episode.
            if ended.any():
                policy.reset(ended)

    episodes = [episode for env_episodes in finished for episode in env_episodes]
    successes = [success for _, _, success in episodes]
    return EpisodeStats(
        returns=np.array([episode_return for episode_return, _, _ in episodes], dtype=np.float64),
        lengths=np.array([length for _, length, _ in episodes], dtype=np.int64),
        env_seeds=seed + np.arange(num_envs, dtype=np.int64),
        successes=None if None in successes else np.array(successes, dtype=bool),
    )


def _final_successes(infos: dict, num_envs: int) -> np.ndarray | None:
    """(num_envs,) bool: info["is_success"] of the step that ended each env's episode (SAME_STEP
    autoreset keeps the final step's info under "final_info"); None if the env reports none."""
    final = infos.get("final_info", {})
    if "is_success" not in final:
        return None
    return np.asarray(final["is_success"], dtype=bool).reshape(num_envs)
