"""A whole offline dataset in memory: the steps of all episodes, concatenated."""

import dataclasses
from dataclasses import dataclass, field

import numpy as np

# Floor on the observation std, so that constant features do not divide by zero.
MIN_OBSERVATION_STD = 1e-6


@dataclass(frozen=True)
class OfflineDataset:
    """Steps of all episodes concatenated in episode order. The observation after the last step
    of an episode is dropped: every row is one (observation, action, reward) step."""

    dataset_id: str
    env_id: str
    observations: np.ndarray  # (N, obs_dim) float32
    actions: np.ndarray  # (N, act_dim) float32
    rewards: np.ndarray  # (N,) float32
    returns_to_go: np.ndarray  # (N,) float32, undiscounted, from this step to the episode end
    timesteps: np.ndarray  # (N,) int64, index of the step within its episode
    episode_starts: np.ndarray  # (E,) int64
    episode_lengths: np.ndarray  # (E,) int64
    observation_mean: np.ndarray  # (obs_dim,) float32
    observation_std: np.ndarray  # (obs_dim,) float32, >= MIN_OBSERVATION_STD
    ref_min_score: float | None
    ref_max_score: float | None
    env_kwargs: dict = field(default_factory=dict)
    """Keywords the env is made with: a memory task's {"delay": D}; {} for locomotion."""

    @property
    def observation_dim(self) -> int:
        return self.observations.shape[1]

    @property
    def action_dim(self) -> int:
        return self.actions.shape[1]

    @property
    def num_steps(self) -> int:
        return self.observations.shape[0]

    @property
    def num_episodes(self) -> int:
        return self.episode_lengths.shape[0]

    @classmethod
    def from_episodes(
        cls,
        dataset_id: str,
        env_id: str,
        observations: list[np.ndarray],
        actions: list[np.ndarray],
        rewards: list[np.ndarray],
        ref_min_score: float | None = None,
        ref_max_score: float | None = None,
        env_kwargs: dict | None = None,
    ) -> "OfflineDataset":
        """Per-episode arrays (observations without the final one) -> one dataset."""
        episode_lengths = np.array([len(r) for r in rewards], dtype=np.int64)
        episode_starts = np.concatenate([[0], np.cumsum(episode_lengths)[:-1]]).astype(np.int64)
        all_observations = np.concatenate(observations).astype(np.float32)
        all_rewards = np.concatenate(rewards)
        observation_mean, observation_std = observation_statistics(all_observations)
        return cls(
            dataset_id=dataset_id,
            env_id=env_id,
            observations=all_observations,
            actions=np.concatenate(actions).astype(np.float32),
            rewards=all_rewards.astype(np.float32),
            returns_to_go=returns_to_go(all_rewards, episode_lengths).astype(np.float32),
            timesteps=np.arange(len(all_rewards), dtype=np.int64)
            - np.repeat(episode_starts, episode_lengths),
            episode_starts=episode_starts,
            episode_lengths=episode_lengths,
            observation_mean=observation_mean,
            observation_std=observation_std,
            ref_min_score=ref_min_score,
            ref_max_score=ref_max_score,
            env_kwargs=env_kwargs or {},
        )

    def select_episodes(self, episodes: np.ndarray) -> "OfflineDataset":
        """The dataset of these episodes (indices, in the order given) alone, with their own
        observation statistics."""
        lengths = self.episode_lengths[episodes]
        rows = np.concatenate(
            [
                np.arange(start, start + length)
                for start, length in zip(self.episode_starts[episodes], lengths, strict=True)
            ]
        )  # (steps of the chosen episodes,)
        observation_mean, observation_std = observation_statistics(self.observations[rows])
        return dataclasses.replace(
            self,
            observations=self.observations[rows],
            actions=self.actions[rows],
            rewards=self.rewards[rows],
            returns_to_go=self.returns_to_go[rows],
            timesteps=self.timesteps[rows],
            episode_starts=np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64),
            episode_lengths=lengths,
            observation_mean=observation_mean,
            observation_std=observation_std,
        )


def observation_statistics(observations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and std (floored at MIN_OBSERVATION_STD), both (obs_dim,) float32."""
    # In float64: a million float32 rows would lose digits in the sums.
    mean = observations.mean(axis=0, dtype=np.float64)
    std = observations.std(axis=0, dtype=np.float64)
    return mean.astype(np.float32), np.maximum(std, MIN_OBSERVATION_STD).astype(np.float32)


def returns_to_go(rewards: np.ndarray, episode_lengths: np.ndarray) -> np.ndarray:
    """Undiscounted sum of the rewards from each step to the end of its episode, (N,) float64.

    One cumulative sum over all steps: return-to-go = (sum up to the episode's last step)
    - (sum before this step). Float64 keeps the difference exact to ~1e-9 over 1M steps."""
    cumulative = np.cumsum(rewards, dtype=np.float64)
    episode_totals = cumulative[np.cumsum(episode_lengths) - 1]
    return np.repeat(episode_totals, episode_lengths) - (cumulative - rewards)
