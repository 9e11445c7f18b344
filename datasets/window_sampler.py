"""Random windows of K consecutive steps, for training sequence models on an OfflineDataset."""

from dataclasses import dataclass

import numpy as np
import torch

from datasets.offline_dataset import OfflineDataset


@dataclass
class WindowBatch:
    """B windows of K steps. Right-padded: real steps first, then padding (zeros, mask False)."""

    returns_to_go: torch.Tensor  # (B, K) float32
    observations: torch.Tensor  # (B, K, obs_dim) float32, raw (not normalised)
    actions: torch.Tensor  # (B, K, act_dim) float32
    timesteps: torch.Tensor  # (B, K) int64
    mask: torch.Tensor  # (B, K) bool, True on real steps


class WindowSampler:
    """Samples windows with one gather per field; no Python loop per window.

    from_episode_start=False (Decision Transformer): the start is a uniformly random step of the
    whole dataset (an episode chosen proportionally to its length, the start uniform within
    it), and the window [start, start + K) is cut at the episode end.
    from_episode_start=True: an episode chosen proportionally to its length, window = its first
    K steps (full-trajectory training of recurrent backbones); K is cut to the longest episode,
    so that a K of 1000 means "whole episodes" without padding shorter ones to 1000."""

    def __init__(
        self,
        dataset: OfflineDataset,
        context_length: int,
        device: str | torch.device = "cpu",
        from_episode_start: bool = False,
    ):
        if context_length <= 0:
            raise ValueError(f"context_length must be positive, got {context_length}")
        if from_episode_start:
            context_length = min(context_length, int(dataset.episode_lengths.max()))
        self.context_length = context_length
        self.device = torch.device(device)
        self.from_episode_start = from_episode_start
        self.num_steps = dataset.num_steps

        def stored(array: np.ndarray) -> torch.Tensor:
            # One zero row after the last step: padded positions gather it.
            padded = np.concatenate([array, np.zeros_like(array[:1])])  # (N + 1, ...)
            return torch.from_numpy(padded).to(self.device)

        self._returns_to_go = stored(dataset.returns_to_go)
        self._observations = stored(dataset.observations)
        self._actions = stored(dataset.actions)
        self._timesteps = stored(dataset.timesteps)
        episode_of_step = np.repeat(np.arange(dataset.num_episodes), dataset.episode_lengths)
        self._episode_start = torch.from_numpy(dataset.episode_starts[episode_of_step]).to(
            self.device
        )  # (N,) start of each step's episode
        self._episode_end = torch.from_numpy(
            (dataset.episode_starts + dataset.episode_lengths)[episode_of_step]
        ).to(self.device)  # (N,) one past the last step of each step's episode
        self._offsets = torch.arange(context_length, device=self.device)  # (K,)

    def sample(self, batch_size: int, generator: torch.Generator) -> WindowBatch:
        """B windows; all randomness comes from `generator`, a CPU generator whatever the
        sampler's device, so that its state (saved in checkpoints) means the same on any device
        (B indices cross to the device; the gathers stay there)."""
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if generator.device.type != "cpu":
            raise ValueError(f"the sampler needs a CPU generator, got one on {generator.device}")
        step = torch.randint(self.num_steps, (batch_size,), generator=generator).to(
            self.device, non_blocking=True
        )  # (B,) uniform over all steps = episode chosen proportionally to its length
        return self.windows_at(step)

    def windows_at(self, step: torch.Tensor) -> WindowBatch:
        """The windows at steps `step` (B,) of the dataset (from their episodes' first steps
        with from_episode_start), cut at their episode ends."""
        batch_size = step.shape[0]
        step = step.to(self.device)
        start = self._episode_start[step] if self.from_episode_start else step
        positions = start[:, None] + self._offsets  # (B, K)
        mask = positions < self._episode_end[step][:, None]  # (B, K)
        positions = torch.where(mask, positions, self.num_steps)  # padding -> the zero row
        flat = positions.view(-1)  # (B * K,): index_select is several times faster than [ ]

        def gather(field: torch.Tensor) -> torch.Tensor:
            rows = field.index_select(0, flat)  # (B * K, ...)
            return rows.view(batch_size, self.context_length, -1)  # (B, K, width)

        return WindowBatch(
            returns_to_go=gather(self._returns_to_go).view(batch_size, -1),  # (B, K)
            observations=gather(self._observations),  # (B, K, obs_dim)
            actions=gather(self._actions),  # (B, K, act_dim)
            timesteps=gather(self._timesteps).view(batch_size, -1),  # (B, K)
            mask=mask,
        )
