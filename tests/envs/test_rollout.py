"""The batched rollout loop, on real Hopper-v5 envs, with policies that hold a constant action."""

import numpy as np
import pytest

from envs.make import make_env, make_vector_env
from envs.rollout import episode_quotas, rollout

# A different constant action per env: different episode lengths, so envs fall out of step.
ACTIONS = np.array([[0.0, 0.0, 0.0], [0.5, -0.5, 0.2], [-0.3, 0.8, -0.8]])
SEED = 11


class ConstantPolicy:
    """Holds ACTIONS[i] in env i, and records what the loop tells it."""

    def __init__(self, num_envs: int):
        self.num_envs = num_envs
        self.step = 0
        self.resets: list[tuple[int, np.ndarray]] = []  # (step of the next action, rows)
        self.first_observations: list[list[np.ndarray]] = [[] for _ in range(num_envs)]
        self.pending_reset = np.zeros(num_envs, dtype=bool)

    def reset(self, rows):
        self.resets.append((self.step, rows.copy()))
        self.pending_reset |= rows

    def act(self, observations):
        for env in np.flatnonzero(self.pending_reset):
            self.first_observations[env].append(observations[env].copy())
        self.pending_reset[:] = False
        return ACTIONS[: self.num_envs]

    def observe(self, rewards):
        assert rewards.shape == (self.num_envs,)
        self.step += 1


def single_env_episodes(action, seed: int, episodes: int):
    """Returns, lengths and first observations of `episodes` episodes in one plain env."""
    env = make_env("Hopper-v5")
    returns, lengths, first_observations = [], [], []
    observation, _ = env.reset(seed=seed)
    for _ in range(episodes):
        first_observations.append(observation)
        episode_return, length, done = 0.0, 0, False
        while not done:
            observation, reward, terminated, truncated, _ = env.step(action)
            episode_return += reward
            length += 1
            done = terminated or truncated
        returns.append(episode_return)
        lengths.append(length)
        observation, _ = env.reset()
    env.close()
    return returns, lengths, first_observations


def run(quotas):
    envs = make_vector_env("Hopper-v5", len(quotas))
    policy = ConstantPolicy(len(quotas))
    stats = rollout(envs, policy, np.array(quotas), seed=SEED)
    envs.close()
    return stats, policy


def test_every_env_runs_its_quota_and_matches_a_plain_env():
    quotas = [3, 1, 2]
    stats, _ = run(quotas)
    assert stats.returns.dtype == np.float64 and stats.lengths.dtype == np.int64
    assert len(stats.returns) == len(stats.lengths) == sum(quotas)
    np.testing.assert_array_equal(stats.env_seeds, SEED + np.arange(3))
    start = 0
    for env, quota in enumerate(quotas):
        returns, lengths, _ = single_env_episodes(ACTIONS[env], SEED + env, quota)
        np.testing.assert_allclose(stats.returns[start : start + quota], returns, rtol=1e-12)
        np.testing.assert_array_equal(stats.lengths[start : start + quota], lengths)
        start += quota
    # The envs really fell out of step, so the masking of finished envs was exercised.
    assert len(set(stats.lengths.tolist())) > 1


def test_rows_reset_exactly_when_their_episode_ends():
    quotas = [3, 1, 2]
    stats, policy = run(quotas)
    first_step, first_rows = policy.resets[0]
    assert first_step == 0 and first_rows.all()
    reset_steps = [[s for s, rows in policy.resets[1:] if rows[env]] for env in range(3)]
    start = 0
    for env, quota in enumerate(quotas):
        episode_ends = np.cumsum(stats.lengths[start : start + quota]).tolist()
        # Counted episodes end where the env resets; after its quota the env may run on.
        assert reset_steps[env][:quota] == episode_ends
        # The observation after a reset is the next episode's first, as a plain env's reset gives.
        _, _, first_observations = single_env_episodes(ACTIONS[env], SEED + env, quota)
        seen_first = policy.first_observations[env][:quota]
        for seen, expected in zip(seen_first, first_observations, strict=True):
            np.testing.assert_allclose(seen, expected, rtol=1e-12)
        start += quota


def test_episode_quotas_split_evenly():
    np.testing.assert_array_equal(episode_quotas(10, 5), [2, 2, 2, 2, 2])
    np.testing.assert_array_equal(episode_quotas(7, 3), [3, 2, 2])
    with pytest.raises(ValueError, match="exceeds"):
        episode_quotas(2, 3)
    with pytest.raises(ValueError, match="positive"):
        episode_quotas(0, 1)


def test_rollout_refuses_a_next_step_autoreset_env():
    from gymnasium.vector import AutoresetMode

    envs = make_vector_env("Hopper-v5", 1, autoreset_mode=AutoresetMode.NEXT_STEP)
    with pytest.raises(ValueError, match="SAME_STEP"):
        rollout(envs, ConstantPolicy(1), np.array([1]), seed=0)
    envs.close()


def test_vector_env_time_limit_can_be_shortened():
    envs = make_vector_env("hopper", 2, max_episode_steps=5)
    envs.reset(seed=0)
    truncations = [envs.step(np.zeros((2, 3)))[3] for _ in range(5)]
    envs.close()
    assert not np.any(truncations[:4]) and np.all(truncations[4])
